//! `list "mke_node"` for `terraform query`: the workers a cluster has
//! registered, each with the identity `mke_node` is imported by (its Node's
//! `InternalIP`) and, when asked, the object its import stores.

use async_trait::async_trait;
use futures::StreamExt as _;
use tfplugin::tfvalue::{from_value, Value};
use tfplugin::{
    Block, Ctx, Diagnostics, ListRequest, ListResource, ListResult, ListResults, Resource as _,
    Schema,
};

use super::{NodeModel, NodeResource, TYPE_NAME};
use crate::ops::node::{self, ListedWorker};
use crate::resources::controllers::{self, ControllersModel};
use crate::resources::{diagnose, identity_of, runtime, SharedRuntime};

pub struct NodeList {
    pub runtime: SharedRuntime,
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "Lists the workers of a cluster for `terraform query`: every Node registered in the cluster except the controllers' own, found with one \
             `k0s kubectl get nodes -o json` on the first controller that answers. Each result is \
             named by its node name and identified by the Node's `InternalIP`, the address \
             `mke_node` is imported by. With `include_resource = true` (as \
             `-generate-config-out` sets it) every worker is also probed over SSH, as an import \
             of `mke_node` does, and its object carries `controllers` from this block.",
            vec![controllers::attribute(
                "How to reach the controllers over SSH: pass `mke_cluster.<name>.controllers`, or \
                 write each controller with its `host_key`. Every controller must carry \
                 `host_key`: a listing keeps no state to record a key seen on first contact.",
            )],
        ),
    )
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let hosts = config.get_attr(controllers::ATTRIBUTE);
    controllers::validate_pinned(&mut d, hosts, "A listing");
    d
}

impl NodeList {
    /// What `mke_node`'s import stores for `worker`, with the listing's
    /// `controllers` (an import by address cannot know them).
    async fn object(
        &self,
        ctx: &Ctx,
        worker: &ListedWorker,
        address: &str,
        controllers: &ControllersModel,
    ) -> Result<Value, Diagnostics> {
        let resource = NodeResource {
            runtime: self.runtime.clone(),
        };
        let imported = resource.import(ctx, address).await;
        let mut model = NodeModel::decode(&imported.state).ok_or_else(|| {
            let mut d = Diagnostics::new();
            for e in imported.diagnostics.iter() {
                d.warning(
                    format!("{}: listed without its object", worker.node_name),
                    format!("{}\n\n{}", e.summary, e.detail),
                );
            }
            d
        })?;
        model.controllers = Some(controllers.clone());
        Ok(model.encode())
    }
}

/// `controllers` as a resource plans it: `workloads` defaults to `false`.
fn planned_controllers(config: &Value) -> Option<ControllersModel> {
    let mut models: ControllersModel = from_value(config.get_attr(controllers::ATTRIBUTE)).ok()?;
    for m in models.values_mut() {
        m.workloads.get_or_insert(false);
    }
    (!models.is_empty()).then_some(models)
}

#[async_trait]
impl ListResource for NodeList {
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
        let summary = "Cannot list the nodes";
        let d = validate_config(&request.config);
        if d.has_errors() {
            return d;
        }
        let Some(models) = planned_controllers(&request.config) else {
            let mut d = Diagnostics::new();
            d.error(
                summary,
                "`controllers` must be known and name at least one controller.",
            );
            return d;
        };
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return diagnose::error(summary, &e),
        };
        let workers = match node::list_workers(rt, &controllers::hosts(&models)).await {
            Ok(w) => w,
            Err(e) => return diagnose::error(summary, &e),
        };
        let found = futures::stream::iter(workers)
            .map(|worker| {
                let models = &models;
                async move {
                    let Some(address) = worker.address.clone() else {
                        let mut d = Diagnostics::new();
                        d.warning(
                            format!("Node {} has no InternalIP", worker.node_name),
                            "Its kubelet registered no InternalIP address, so the listing cannot \
                             tell the address mke_node would import it by. Import it by hand \
                             with its SSH address.",
                        );
                        return ListResult::failed(d);
                    };
                    let identity = identity_of("address", Some(address.clone()))
                        .expect("an identity of a known address");
                    let result = ListResult::found(identity, worker.node_name.clone());
                    if !request.include_resource_object {
                        return result;
                    }
                    match self.object(ctx, &worker, &address, models).await {
                        Ok(object) => result.with_resource_object(object),
                        Err(d) => ListResult {
                            diagnostics: d,
                            ..result
                        },
                    }
                }
            })
            .buffered(rt.settings().parallelism.max(1));
        futures::pin_mut!(found);
        while let Some(result) = found.next().await {
            if results.send(result).await.is_err() {
                break;
            }
        }
        Diagnostics::new()
    }
}
