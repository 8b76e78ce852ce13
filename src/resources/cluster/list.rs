//! `list "mke_cluster"` for `terraform query`: probes the given hosts and
//! returns one result per cluster this provider installed, its controllers
//! among them grouped into one identity (the import ID of `mke_cluster`).

use async_trait::async_trait;
use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{
    Attribute, Block, Ctx, Diagnostics, ListRequest, ListResource, ListResult, ListResults,
    Resource as _, Schema,
};

use super::{ClusterResource, TYPE_NAME};
use crate::ops::cluster::{self, FoundCluster};
use crate::ops::node::parse_import_id;
use crate::resources::validate::check_address;
use crate::resources::{diagnose, identity_of, runtime, SharedRuntime};

pub struct ClusterList {
    pub runtime: SharedRuntime,
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "Finds the clusters among the given hosts, for `terraform query`: every given host \
             is reached over SSH (a host key seen on first contact is accepted, as an import of \
             `mke_cluster` accepts it) and probed once. A host whose marker \
             (`/etc/k0s/mke.json`) names it a controller of a cluster this provider installed \
             joins that cluster's result, named by the cluster id. A controller without a \
             marker (k0sctl or mkectl installed it) joins the result of the others with the \
             same cluster CA, named `not managed by this provider yet (…)`: its generated \
             config adopts the cluster (see the import section of `mke_cluster`). Workers, \
             hosts without k0s and hosts that do not answer (a warning) are left out. Each \
             result is identified by its controllers among the given hosts, keyed by hostname. With \
             `include_resource = true` the cluster is imported as `mke_cluster`'s import does \
             it (the admin kubeconfig is read from a controller).",
            vec![Attribute::string_list("addresses").required().description(
                "The hosts to probe, as `<address>[:<port>]`. List every controller of a \
                 cluster: only the controllers listed here are part of its result.",
            )],
        ),
    )
}

/// The hosts of `addresses`, or what is wrong with each.
fn targets(config: &Value, d: &mut Diagnostics) -> Vec<(String, Option<u16>)> {
    let Value::List(items) = config.get_attr("addresses") else {
        return Vec::new();
    };
    let mut targets = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(text) = item.as_str() else { continue };
        let path = AttributePath::root().attribute("addresses").index(i as i64);
        match parse_import_id(text) {
            Ok((address, port)) => {
                check_address(d, path, &Value::from(address.as_str()));
                targets.push((address, port));
            }
            Err(e) => d.error_at(path, "Invalid address", e),
        }
    }
    targets
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    targets(config, &mut d);
    d
}

impl ClusterList {
    fn result(cluster: &FoundCluster) -> ListResult {
        let identity =
            identity_of("controllers", Some(cluster.import_id())).expect("a known import ID");
        let display = match &cluster.unmanaged_ca {
            // The id is read at import; the CA tells the clusters apart here.
            Some(ca) => format!(
                "not managed by this provider yet (installed by k0sctl or mkectl; CA sha256 {})",
                &ca[..ca.len().min(16)]
            ),
            None => cluster.id.clone(),
        };
        ListResult::found(identity, display)
    }
}

#[async_trait]
impl ListResource for ClusterList {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }
    fn schema(&self) -> Schema {
        schema()
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    async fn list(&self, ctx: &Ctx, request: ListRequest, results: ListResults) -> Diagnostics {
        let mut d = Diagnostics::new();
        let targets = targets(&request.config, &mut d);
        if d.has_errors() {
            return d;
        }
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return diagnose::error("Cannot list the clusters", &e),
        };
        let found = cluster::find_clusters(rt, &targets).await;
        diagnose::warnings(&mut d, &found.warnings);
        let resource = ClusterResource {
            runtime: self.runtime.clone(),
        };
        for cluster in &found.clusters {
            let mut result = Self::result(cluster);
            if request.include_resource_object {
                let imported = resource.import(ctx, &cluster.import_id()).await;
                if imported.state.is_null() {
                    for e in imported.diagnostics.iter() {
                        result.diagnostics.warning(
                            format!("Cluster {}: listed without its object", cluster.name),
                            format!("{}\n\n{}", e.summary, e.detail),
                        );
                    }
                } else {
                    result = result.with_resource_object(imported.state);
                }
            }
            if results.send(result).await.is_err() {
                return Diagnostics::new();
            }
        }
        d
    }
}
