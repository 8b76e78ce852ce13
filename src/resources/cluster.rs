//! `mke_cluster`: the k0s control plane. This file is the Terraform side:
//! schema, plan-time validation and planning. The host work lives in
//! `crate::ops::cluster`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{
    Attribute, Block, Ctx, Diagnostics, IdentityAttribute, IdentitySchema, Nesting, Plan,
    PlanRequest, Resource, Schema, StateOutcome,
};

use super::controllers;
use crate::provider::ProviderState;
use crate::validate::{
    attr, check_cidr, check_duration, check_k0s_version, check_one_of, check_port, check_range,
    known_str,
};

pub const TYPE_NAME: &str = "mke_cluster";
pub const API_PORT: u16 = 6443;

/// Settings that cannot change under a running cluster.
const IMMUTABLE_NETWORK: [&[&str]; 6] = [
    &["network", "pod_cidr"],
    &["network", "service_cidr"],
    &["network", "cluster_domain"],
    &["network", "calico", "mode"],
    &["network", "calico", "vxlan_port"],
    &["network", "calico", "vxlan_vni"],
];

pub struct ClusterResource {
    pub state: Arc<ProviderState>,
}

pub fn schema() -> Schema {
    let net = mke_k0s::NetworkSpec::default();
    let calico = &net.calico;
    Schema::new(
        0,
        Block::new(
            "An MKE 4 control plane: k0s controllers (one, or several for high availability) \
             with Calico networking, installed over SSH on machines you already have.",
            vec![
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .description("Name of the cluster. Changing it replaces the cluster."),
                Attribute::string("k0s_version")
                    .default(mke_k0s::DEFAULT_K0S_VERSION)
                    .description(&format!(
                        "k0s release to run, as `vX.Y.Z+k0s.N`. Default `{}` (MKE 4). Changing it \
                         upgrades the controllers one at a time, in place.",
                        mke_k0s::DEFAULT_K0S_VERSION
                    )),
                Attribute::string("k0s_binary_path").optional().description(
                    "Path of a k0s binary on the machine running Terraform. It is uploaded to every \
                     host (for air-gapped hosts) and checked by sha256; an upload is skipped when \
                     the host already has that binary. When null, hosts download k0s from \
                     `k0s_download_url`.",
                ),
                Attribute::string("k0s_download_url")
                    .default(mke_k0s::DEFAULT_DOWNLOAD_URL)
                    .description(
                        "URL template the hosts download k0s from when `k0s_binary_path` is null. \
                         `{version}` becomes `k0s_version` and `{arch}` the host's architecture in \
                         k0s's naming (`amd64`, `arm64`, `arm`).",
                    ),
                controllers::attribute(
                    "The controllers, by a stable name of your choice. At least one; an odd number \
                     keeps etcd quorum safe. The first key in sorted order leads the install.",
                ),
                Attribute::nested(
                    "api",
                    Nesting::Single,
                    vec![
                        Attribute::string("external_address").optional().description(
                            "Address of a load balancer in front of the controllers. Used in the \
                             kubeconfig and added to the API certificate.",
                        ),
                        Attribute::string_list("sans")
                            .optional()
                            .description("Extra names and addresses for the API certificate."),
                    ],
                )
                .optional()
                .description("How clients reach the Kubernetes API."),
                Attribute::nested(
                    "network",
                    Nesting::Single,
                    vec![
                        Attribute::string("pod_cidr")
                            .default(net.pod_cidr.as_str())
                            .requires_replace()
                            .description("IPv4 range for pods. Default `10.244.0.0/16`. Changing it rebuilds the cluster."),
                        Attribute::string("service_cidr")
                            .default(net.service_cidr.as_str())
                            .requires_replace()
                            .description("IPv4 range for services. Default `10.96.0.0/12`. Changing it rebuilds the cluster."),
                        Attribute::string("cluster_domain")
                            .default(net.cluster_domain.as_str())
                            .requires_replace()
                            .description("DNS domain of the cluster. Default `cluster.local`. Changing it rebuilds the cluster."),
                        Attribute::string("kube_proxy_mode")
                            .default(net.kube_proxy_mode.to_string().as_str())
                            .description("kube-proxy mode: `iptables` (default) or `ipvs`."),
                        Attribute::nested(
                            "calico",
                            Nesting::Single,
                            vec![
                                Attribute::string("mode")
                                    .default(calico.mode.to_string().as_str())
                                    .requires_replace()
                                    .description("Calico backend: `vxlan` (default), `ipip` or `bird`. Changing it rebuilds the cluster."),
                                Attribute::number("vxlan_port")
                                    .default(Value::from(calico.vxlan_port as i64))
                                    .requires_replace()
                                    .description("UDP port of the VXLAN backend. Default `4789`. Changing it rebuilds the cluster."),
                                Attribute::number("vxlan_vni")
                                    .default(Value::from(calico.vxlan_vni as i64))
                                    .requires_replace()
                                    .description("VXLAN network identifier. Default `4096`. Changing it rebuilds the cluster."),
                                Attribute::number("mtu")
                                    .default(Value::from(calico.mtu as i64))
                                    .description("MTU of the pod network; `0` (default) detects it. Always written to the config: without it k0s would use 1450."),
                                Attribute::bool("wireguard")
                                    .default(calico.wireguard)
                                    .description("Encrypt pod traffic with WireGuard. Default `false`."),
                            ],
                        )
                        .default_from_children()
                        .description("Calico settings."),
                    ],
                )
                .default_from_children()
                .description("Cluster networking. Every default is the MKE 4 default."),
                Attribute::string("k0s_config_overrides").optional().description(
                    "YAML deep-merged over the generated k0s ClusterConfig, last: maps merge \
                     recursively, lists replace, `null` deletes a key. It may not change \
                     `spec.api.port`, `spec.network.provider` or the per-host addresses. Use \
                     `yamlencode({...})`.",
                ),
                timeouts_attribute("30m", "60m", "20m"),
                Attribute::string("id")
                    .computed()
                    .stable()
                    .description("The cluster's unique ID: the UID of its `kube-system` namespace."),
                Attribute::string("api_endpoint").computed().description(
                    "`https://<api.external_address or the first controller address>:6443`.",
                ),
                Attribute::string("kubeconfig")
                    .computed()
                    .sensitive()
                    .recompute_on_change_of(&["controllers", "api"])
                    .description(
                        "Admin kubeconfig, with the server set to `api_endpoint`. Sensitive, and \
                         kept in state: on Terraform 1.10 and later prefer the `mke_kubeconfig` \
                         ephemeral resource, which never touches state.",
                    ),
                Attribute::string("ca_certificate")
                    .computed()
                    .stable()
                    .description("The cluster CA certificate (PEM)."),
                Attribute::string_list("controller_addresses")
                    .computed()
                    .description("Controller addresses, the leader first."),
                Attribute::string("k0s_config").computed().description(
                    "The cluster-wide k0s ClusterConfig written to `/etc/k0s/k0s.yaml`. On a host \
                     whose `private_address` is set, that address is added as `spec.api.address` \
                     and `spec.storage.etcd.peerAddress`.",
                ),
                Attribute::string_map("host_status").computed().description(
                    "What the last refresh saw on each controller: `running`, `stopped`, `absent` \
                     or `unreachable`. Plans always propose `running`, so drift shows as a change.",
                ),
            ],
        ),
    )
}

pub fn timeouts_attribute(create: &str, update: &str, delete: &str) -> Attribute {
    Attribute::nested(
        "timeouts",
        Nesting::Single,
        vec![
            Attribute::string("create")
                .optional()
                .description(&format!("How long create may take. Default `{create}`.")),
            Attribute::string("update")
                .optional()
                .description(&format!("How long update may take. Default `{update}`.")),
            Attribute::string("delete")
                .optional()
                .description(&format!("How long delete may take. Default `{delete}`.")),
        ],
    )
    .optional()
    .description("Time limits of create, update and delete, as durations like `30m`.")
}

pub fn validate_timeouts(d: &mut Diagnostics, config: &Value) {
    let t = attr(config, "timeouts");
    for op in ["create", "update", "delete"] {
        check_duration(
            d,
            AttributePath::root().attribute("timeouts").attribute(op),
            attr(t, op),
        );
    }
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let root = AttributePath::root();
    check_k0s_version(
        &mut d,
        root.clone().attribute("k0s_version"),
        attr(config, "k0s_version"),
    );
    controllers::validate(&mut d, attr(config, "controllers"));

    let api = attr(config, "api");
    crate::validate::check_address(
        &mut d,
        root.clone().attribute("api").attribute("external_address"),
        attr(api, "external_address"),
    );

    let network = attr(config, "network");
    let net_path = root.clone().attribute("network");
    let pods = check_cidr(
        &mut d,
        net_path.clone().attribute("pod_cidr"),
        attr(network, "pod_cidr"),
    )
    .or_else(|| {
        attr(network, "pod_cidr")
            .is_null()
            .then(|| {
                crate::validate::parse_ipv4_cidr(&mke_k0s::NetworkSpec::default().pod_cidr).ok()
            })
            .flatten()
    });
    let services = check_cidr(
        &mut d,
        net_path.clone().attribute("service_cidr"),
        attr(network, "service_cidr"),
    )
    .or_else(|| {
        attr(network, "service_cidr")
            .is_null()
            .then(|| {
                crate::validate::parse_ipv4_cidr(&mke_k0s::NetworkSpec::default().service_cidr).ok()
            })
            .flatten()
    });
    if let (Some(p), Some(s)) = (pods, services) {
        if p.overlaps(s) {
            d.error_at(
                net_path.clone().attribute("service_cidr"),
                "Overlapping pod and service ranges",
                "`network.pod_cidr` and `network.service_cidr` overlap; pods and services need \
                 separate address ranges.",
            );
        }
    }
    check_one_of(
        &mut d,
        net_path.clone().attribute("kube_proxy_mode"),
        attr(network, "kube_proxy_mode"),
        &["iptables", "ipvs"],
        "kube-proxy mode",
    );
    let calico = attr(network, "calico");
    let calico_path = net_path.attribute("calico");
    check_one_of(
        &mut d,
        calico_path.clone().attribute("mode"),
        attr(calico, "mode"),
        &["vxlan", "ipip", "bird"],
        "calico mode",
    );
    check_port(
        &mut d,
        calico_path.clone().attribute("vxlan_port"),
        attr(calico, "vxlan_port"),
    );
    check_range(
        &mut d,
        calico_path.clone().attribute("vxlan_vni"),
        attr(calico, "vxlan_vni"),
        1,
        16_777_215,
        "VXLAN VNI",
    );
    check_range(
        &mut d,
        calico_path.attribute("mtu"),
        attr(calico, "mtu"),
        0,
        9000,
        "MTU",
    );

    if let Some(yaml) = known_str(attr(config, "k0s_config_overrides")) {
        if let Err(e) = mke_k0s::check_overrides(yaml) {
            d.error_at(
                root.clone().attribute("k0s_config_overrides"),
                "Invalid k0s_config_overrides",
                e.to_string(),
            );
        }
    }
    validate_timeouts(&mut d, config);
    if !d.has_errors() {
        check_rendered_config(&mut d, config);
    }
    d
}

/// Renders the ClusterConfig from the configuration (defaults applied) and
/// checks it as strictly as k0s would parse it, so a bad override fails at
/// plan instead of on the hosts.
fn check_rendered_config(d: &mut Diagnostics, config: &Value) {
    let planned = tfplugin::plan::plan_resource(&schema(), &Value::Null, config).planned;
    let Some(spec) = cluster_spec(&planned) else {
        return;
    };
    let path = AttributePath::root().attribute("k0s_config_overrides");
    match mke_k0s::render_cluster_config(&spec) {
        Ok(yaml) => {
            if let Err(e) = mke_k0s::validate_strict(&yaml) {
                d.error_at(
                    path,
                    "k0s would reject this configuration",
                    format!("k0s v1.29 parses its config strictly: {e}"),
                );
            }
        }
        Err(e) => d.error_at(path, "Cannot build the k0s configuration", e.to_string()),
    }
}

/// The k0s domain model of a planned cluster, when every input is known.
pub fn cluster_spec(planned: &Value) -> Option<mke_k0s::ClusterSpec> {
    let name = known_str(attr(planned, "name"))?.to_string();
    let Value::Map(entries) = attr(planned, "controllers") else {
        return None;
    };
    let mut controllers = Vec::new();
    for (key, entry) in entries {
        let address = known_str(attr(entry, "address"))?.to_string();
        let private_address = match attr(entry, "private_address") {
            Value::Null => None,
            v => Some(known_str(v)?.to_string()),
        };
        let workloads = match attr(entry, "workloads") {
            Value::Bool(b) => *b,
            Value::Null => false,
            _ => return None,
        };
        controllers.push(mke_k0s::ControllerSpec {
            key: key.clone(),
            address,
            private_address,
            workloads,
        });
    }
    let api = attr(planned, "api");
    let external_address = match attr(api, "external_address") {
        Value::Null => None,
        v => Some(known_str(v)?.to_string()),
    };
    let sans = match attr(api, "sans") {
        Value::Null => Vec::new(),
        Value::List(items) => items
            .iter()
            .map(|v| known_str(v).map(str::to_string))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let network = attr(planned, "network");
    let calico = attr(network, "calico");
    let number = |v: &Value| crate::validate::known_i64(v);
    let spec = mke_k0s::ClusterSpec {
        name,
        controllers,
        api: mke_k0s::ApiSpec {
            external_address,
            sans,
        },
        network: mke_k0s::NetworkSpec {
            pod_cidr: known_str(attr(network, "pod_cidr"))?.to_string(),
            service_cidr: known_str(attr(network, "service_cidr"))?.to_string(),
            cluster_domain: known_str(attr(network, "cluster_domain"))?.to_string(),
            kube_proxy_mode: known_str(attr(network, "kube_proxy_mode"))?.parse().ok()?,
            calico: mke_k0s::CalicoSpec {
                mode: known_str(attr(calico, "mode"))?.parse().ok()?,
                vxlan_port: u16::try_from(number(attr(calico, "vxlan_port"))?).ok()?,
                vxlan_vni: u32::try_from(number(attr(calico, "vxlan_vni"))?).ok()?,
                mtu: u32::try_from(number(attr(calico, "mtu"))?).ok()?,
                wireguard: matches!(attr(calico, "wireguard"), Value::Bool(true)),
            },
        },
        overrides_yaml: match attr(planned, "k0s_config_overrides") {
            Value::Null => None,
            v => Some(known_str(v)?.to_string()),
        },
    };
    Some(spec)
}

/// Controller addresses, the leader first. The leader is kept while it
/// remains; otherwise the first key in sorted order leads.
pub fn controller_addresses(planned: &Value, prior: &Value) -> Option<Vec<String>> {
    let Value::Map(entries) = attr(planned, "controllers") else {
        return None;
    };
    let mut addresses = entries
        .values()
        .map(|e| known_str(attr(e, "address")).map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    let prior_leader = match attr(prior, "controller_addresses") {
        Value::List(items) => items.first().and_then(known_str).map(str::to_string),
        _ => None,
    };
    if let Some(leader) = prior_leader {
        if let Some(pos) = addresses.iter().position(|a| *a == leader) {
            let l = addresses.remove(pos);
            addresses.insert(0, l);
        }
    }
    Some(addresses)
}

fn set(plan: &mut Plan, name: &str, value: Value) {
    if let Value::Object(fields) = &mut plan.planned {
        fields.insert(name.to_string(), value);
    }
}

pub fn plan_cluster(request: &PlanRequest<'_>, plan: &mut Plan) {
    let planned = plan.planned.clone();
    let addresses = controller_addresses(&planned, request.prior);
    match &addresses {
        Some(list) => {
            set(
                plan,
                "controller_addresses",
                Value::List(list.iter().cloned().map(Value::String).collect()),
            );
            let host = match attr(attr(&planned, "api"), "external_address") {
                Value::String(s) => Some(s.clone()),
                Value::Null => list.first().cloned(),
                _ => None,
            };
            set(
                plan,
                "api_endpoint",
                host.map(|h| Value::String(format!("https://{h}:{API_PORT}")))
                    .unwrap_or(Value::Unknown),
            );
        }
        None => {
            set(plan, "controller_addresses", Value::Unknown);
            set(plan, "api_endpoint", Value::Unknown);
        }
    }
    if let Value::Map(entries) = attr(&planned, "controllers") {
        set(
            plan,
            "host_status",
            Value::Map(
                entries
                    .keys()
                    .map(|k| (k.clone(), Value::String("running".into())))
                    .collect(),
            ),
        );
        let count = entries.len();
        if count > 1 && count % 2 == 0 {
            plan.diagnostics.warning(
                "Even number of controllers",
                format!(
                    "{count} controllers tolerate no more failures than {}: etcd needs a majority. \
                     Use an odd number.",
                    count - 1
                ),
            );
        }
    } else {
        set(plan, "host_status", Value::Unknown);
    }
    match cluster_spec(&planned) {
        Some(spec) => match mke_k0s::render_cluster_config(&spec) {
            Ok(yaml) => {
                if let Err(e) = mke_k0s::validate_strict(&yaml) {
                    plan.diagnostics.error_at(
                        AttributePath::root().attribute("k0s_config_overrides"),
                        "k0s would reject this configuration",
                        format!("k0s v1.29 parses its config strictly: {e}"),
                    );
                }
                set(plan, "k0s_config", Value::String(yaml));
            }
            Err(e) => plan.diagnostics.error_at(
                AttributePath::root().attribute("k0s_config_overrides"),
                "Cannot build the k0s configuration",
                e.to_string(),
            ),
        },
        None => set(plan, "k0s_config", Value::Unknown),
    }
    let replaced: Vec<String> = plan
        .requires_replace
        .iter()
        .map(|p| p.to_string())
        .filter(|p| IMMUTABLE_NETWORK.iter().any(|i| i.join(".") == *p))
        .collect();
    if !replaced.is_empty() {
        plan.diagnostics.warning(
            "This change rebuilds the whole cluster",
            format!(
                "{} cannot change under a running cluster, so Terraform will destroy the cluster \
                 and every node, then build them again. Everything running on it is lost. Guard \
                 against this with `lifecycle {{ prevent_destroy = true }}`.",
                replaced.join(", ")
            ),
        );
    }
}

pub fn identity_schema() -> IdentitySchema {
    IdentitySchema {
        version: 0,
        attributes: vec![IdentityAttribute {
            name: "controllers".into(),
            ty: tfplugin::tfvalue::Type::String,
            required_for_import: true,
            description: "Every controller as `<key>=<address>[:<port>]`, comma-separated.".into(),
        }],
    }
}

/// `<key>=<address>[:<port>],…`: the import ID, and the identity.
pub fn import_id(state: &Value) -> Option<String> {
    let Value::Map(entries) = attr(state, "controllers") else {
        return None;
    };
    let mut parts = Vec::new();
    for (key, entry) in entries {
        let address = known_str(attr(entry, "address"))?;
        match crate::validate::known_i64(attr(entry, "port")) {
            Some(port) => parts.push(format!("{key}={address}:{port}")),
            None => parts.push(format!("{key}={address}")),
        }
    }
    Some(parts.join(","))
}

#[async_trait]
impl Resource for ClusterResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }
    fn schema(&self) -> Schema {
        schema()
    }
    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(identity_schema())
    }
    fn identity(&self, state: &Value) -> Option<Value> {
        let id = import_id(state)?;
        Some(Value::Object(BTreeMap::from([(
            "controllers".to_string(),
            Value::String(id),
        )])))
    }
    fn import_id_from_identity(&self, identity: &Value) -> Result<String, Diagnostics> {
        known_str(attr(identity, "controllers"))
            .map(str::to_string)
            .ok_or_else(|| {
                let mut d = Diagnostics::new();
                d.error("Invalid identity", "`controllers` must be a known string.");
                d
            })
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }
    fn modify_plan(&self, request: &PlanRequest<'_>, plan: &mut Plan) {
        plan_cluster(request, plan)
    }
    async fn create(&self, ctx: &Ctx, planned: Value, _config: Value) -> StateOutcome {
        crate::ops::cluster::create(&self.state, ctx, planned).await
    }
    async fn update(
        &self,
        ctx: &Ctx,
        prior: Value,
        planned: Value,
        _config: Value,
        _private: Vec<u8>,
    ) -> StateOutcome {
        crate::ops::cluster::update(&self.state, ctx, prior, planned).await
    }
    async fn delete(&self, ctx: &Ctx, prior: Value, _private: Vec<u8>) -> Diagnostics {
        crate::ops::cluster::delete(&self.state, ctx, prior).await
    }
    async fn read(&self, ctx: &Ctx, state: Value, private: Vec<u8>) -> StateOutcome {
        crate::ops::cluster::read(&self.state, ctx, state, private).await
    }
    async fn import(&self, ctx: &Ctx, id: &str) -> StateOutcome {
        crate::ops::cluster::import(&self.state, ctx, id).await
    }
}
