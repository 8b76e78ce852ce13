//! Plan time: validation of the configuration (every check names its
//! attribute) and the planned computed values (addresses, endpoint, the
//! rendered ClusterConfig, the rebuild warning).

use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{Diagnostics, Plan, PlanRequest};

use super::schema::schema;
use crate::resources::controllers;
use crate::resources::validate::{
    check_address, check_cidr, check_k0s_version, check_one_of, check_port,
    check_positive_duration, check_range, check_upgrade_in_place, parse_ipv4_cidr,
};

/// Settings that cannot change under a running cluster: the attribute, and
/// the ClusterConfig key it renders to.
const IMMUTABLE_NETWORK: [(&str, &str); 6] = [
    ("network.pod_cidr", "spec.network.podCIDR"),
    ("network.service_cidr", "spec.network.serviceCIDR"),
    ("network.cluster_domain", "spec.network.clusterDomain"),
    ("network.calico.mode", "spec.network.calico.mode"),
    ("network.calico.vxlan_port", "spec.network.calico.vxlanPort"),
    ("network.calico.vxlan_vni", "spec.network.calico.vxlanVNI"),
];

pub fn validate_timeouts(d: &mut Diagnostics, config: &Value) {
    let t = config.get_attr("timeouts");
    for op in ["create", "update", "delete"] {
        check_positive_duration(
            d,
            AttributePath::root().attribute("timeouts").attribute(op),
            t.get_attr(op),
        );
    }
}

/// `k0s_download_url`, `k0s_download_allow_http` and `k0s_sha256`, which
/// `mke_node` has too. No message quotes the URL: it may carry credentials.
pub fn validate_binary_source(d: &mut Diagnostics, config: &Value) {
    let root = AttributePath::root();
    let sha256 = config.get_attr("k0s_sha256");
    if let Some(text) = sha256.as_str() {
        if let Err(e) = mke_k0s::status::parse_sha256(text) {
            d.error_at(
                root.clone().attribute("k0s_sha256"),
                "Invalid k0s_sha256",
                format!("{e}."),
            );
        }
    }
    let Some(template) = config.get_attr("k0s_download_url").as_str() else {
        return;
    };
    let allow_http = match config.get_attr("k0s_download_allow_http") {
        Value::Bool(allowed) => Some(*allowed),
        Value::Null => Some(false),
        _ => None,
    };
    let url_path = root.clone().attribute("k0s_download_url");
    // While the opt-in is unknown, everything but the scheme is checked.
    match mke_k0s::status::DownloadTemplate::parse(template, allow_http.unwrap_or(true)) {
        Ok(parsed) => {
            let plain = parsed.scheme() == mke_k0s::status::UrlScheme::Http;
            if plain && allow_http == Some(true) && sha256.is_null() {
                d.warning(
                    "k0s downloaded over plain HTTP without a checksum",
                    "`k0s_download_url` is `http://` and `k0s_sha256` is not set: anyone on \
                     the network path between the hosts and the mirror can swap the k0s binary \
                     unnoticed. Set `k0s_sha256` to the binary's checksum.",
                );
            }
        }
        Err(mke_k0s::status::DownloadUrlError::PlainHttp) => d.error_at(
            url_path,
            "Plain HTTP download refused",
            format!(
                "k0s_download_url {}.\n\nUse an `https://` mirror, or `file:///path` for a \
                 binary already on the hosts. For an internal mirror without TLS, set \
                 `k0s_download_allow_http = true`, and `k0s_sha256` so that a swapped binary \
                 is caught.",
                mke_k0s::status::DownloadUrlError::PlainHttp
            ),
        ),
        Err(e) => d.error_at(
            url_path,
            "Invalid k0s_download_url",
            format!(
                "{e}.\n\nThe URL is a template: `{{version}}` becomes `k0s_version` and \
                 `{{arch}}` the host's architecture (`amd64`, `arm64` or `arm`)."
            ),
        ),
    }
}

/// [`validate_binary_source`] again at plan, where values unknown at
/// validation (a URL from another resource) may be known. Only its errors:
/// a warning was given at validation already.
pub fn plan_binary_source(request: &PlanRequest<'_>, plan: &mut Plan) {
    let mut found = Diagnostics::new();
    validate_binary_source(&mut found, request.config);
    for diagnostic in found.0 {
        if diagnostic.severity == tfplugin::Severity::Error {
            plan.diagnostics.push(diagnostic);
        }
    }
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let root = AttributePath::root();
    check_k0s_version(
        &mut d,
        root.clone().attribute("k0s_version"),
        config.get_attr("k0s_version"),
    );
    controllers::validate(&mut d, config.get_attr("controllers"));
    validate_binary_source(&mut d, config);

    let api = config.get_attr("api");
    check_address(
        &mut d,
        root.clone().attribute("api").attribute("external_address"),
        api.get_attr("external_address"),
    );

    let network = config.get_attr("network");
    let net_path = root.clone().attribute("network");
    let pods = check_cidr(
        &mut d,
        net_path.clone().attribute("pod_cidr"),
        network.get_attr("pod_cidr"),
    )
    .or_else(|| {
        network
            .get_attr("pod_cidr")
            .is_null()
            .then(|| parse_ipv4_cidr(&mke_k0s::NetworkSpec::default().pod_cidr).ok())
            .flatten()
    });
    let services = check_cidr(
        &mut d,
        net_path.clone().attribute("service_cidr"),
        network.get_attr("service_cidr"),
    )
    .or_else(|| {
        network
            .get_attr("service_cidr")
            .is_null()
            .then(|| parse_ipv4_cidr(&mke_k0s::NetworkSpec::default().service_cidr).ok())
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
        network.get_attr("kube_proxy_mode"),
        &["iptables", "ipvs"],
        "kube-proxy mode",
    );
    let calico = network.get_attr("calico");
    let calico_path = net_path.attribute("calico");
    check_one_of(
        &mut d,
        calico_path.clone().attribute("mode"),
        calico.get_attr("mode"),
        &["vxlan", "ipip", "bird"],
        "calico mode",
    );
    check_port(
        &mut d,
        calico_path.clone().attribute("vxlan_port"),
        calico.get_attr("vxlan_port"),
    );
    check_range(
        &mut d,
        calico_path.clone().attribute("vxlan_vni"),
        calico.get_attr("vxlan_vni"),
        1,
        16_777_215,
        "VXLAN VNI",
    );
    check_range(
        &mut d,
        calico_path.attribute("mtu"),
        calico.get_attr("mtu"),
        0,
        9000,
        "MTU",
    );

    if let Some(yaml) = config.get_attr("k0s_config_overrides").as_str() {
        if let Err(e) = mke_k0s::check_overrides(yaml) {
            d.error_at(
                root.clone().attribute("k0s_config_overrides"),
                "Invalid k0s_config_overrides",
                match forbidden_override_advice(&e) {
                    Some(advice) => format!("{e}.\n\n{advice}"),
                    None => e.to_string(),
                },
            );
        }
    }
    validate_timeouts(&mut d, config);
    if !d.has_errors() {
        let planned = tfplugin::plan::plan_resource(&schema(), &Value::Null, config).planned;
        if let Some(spec) = cluster_spec(&planned) {
            render_checked(&mut d, &spec);
        }
    }
    d
}

/// The way out of an override the provider cannot allow, for the keys that
/// have one.
fn forbidden_override_advice(e: &mke_k0s::ConfigError) -> Option<&'static str> {
    let mke_k0s::ConfigError::ForbiddenOverride { path, .. } = e else {
        return None;
    };
    Some(match path.as_str() {
        "spec.api.port" => "MKE 4 serves the Kubernetes API on port 6443; remove this key.",
        "spec.api.address" | "spec.storage.etcd.peerAddress" => {
            "The provider sets it on each controller from `controllers.<key>.private_address`; \
             set that instead."
        }
        "spec.network.provider" => {
            "MKE 4 runs Calico; tune it with `network.calico` (or keys under \
             `spec.network.calico` here) instead."
        }
        "apiVersion" | "kind" => "Leave it out: the provider writes it.",
        _ => return None,
    })
}

/// Renders the ClusterConfig of `spec` and checks it as k0s would parse it
/// and as a running cluster allows (no override of an immutable network key),
/// so a bad override fails at plan instead of on the hosts. Every error is on
/// `k0s_config_overrides`, the only input that can make a valid spec render
/// wrong.
fn render_checked(d: &mut Diagnostics, spec: &mke_k0s::ClusterSpec) -> Option<String> {
    let path = AttributePath::root().attribute("k0s_config_overrides");
    if let Some(overrides) = &spec.overrides_yaml {
        let plain = mke_k0s::ClusterSpec {
            overrides_yaml: None,
            ..spec.clone()
        };
        let checked = mke_k0s::render_cluster_config(&plain)
            .map_err(|e| vec![e])
            .and_then(|base| mke_k0s::check_immutable_overrides(&base, overrides));
        if let Err(errors) = checked {
            for e in errors {
                let attribute = e.path().and_then(|key| {
                    IMMUTABLE_NETWORK
                        .iter()
                        .find(|(_, k)| *k == key)
                        .map(|(attribute, _)| *attribute)
                });
                let detail = match attribute {
                    Some(attribute) => format!(
                        "{e}.\n\nSet `{attribute}` instead and remove this key from \
                         k0s_config_overrides: Terraform then shows the change as what it is, a \
                         rebuild of the cluster."
                    ),
                    None => e.to_string(),
                };
                d.error_at(
                    path.clone(),
                    "Override of a setting that cannot change",
                    detail,
                );
            }
            return None;
        }
    }
    match mke_k0s::render_cluster_config(spec) {
        Ok(yaml) => match mke_k0s::validate_strict(&yaml) {
            Ok(()) => Some(yaml),
            Err(e) => {
                d.error_at(
                    path,
                    "k0s would reject this configuration",
                    format!("k0s v1.29 parses its config strictly: {e}"),
                );
                None
            }
        },
        Err(e) => {
            d.error_at(path, "Cannot build the k0s configuration", e.to_string());
            None
        }
    }
}

/// The k0s domain model of a planned cluster, when every input is known.
pub fn cluster_spec(planned: &Value) -> Option<mke_k0s::ClusterSpec> {
    let name = planned.get_attr("name").as_str()?.to_string();
    let Value::Map(entries) = planned.get_attr("controllers") else {
        return None;
    };
    let mut controllers = Vec::new();
    for (key, entry) in entries {
        let address = entry.get_attr("address").as_str()?.to_string();
        let private_address = match entry.get_attr("private_address") {
            Value::Null => None,
            v => Some(v.as_str()?.to_string()),
        };
        let workloads = match entry.get_attr("workloads") {
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
    let api = planned.get_attr("api");
    let external_address = match api.get_attr("external_address") {
        Value::Null => None,
        v => Some(v.as_str()?.to_string()),
    };
    let sans = match api.get_attr("sans") {
        Value::Null => Vec::new(),
        Value::List(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let network = planned.get_attr("network");
    let calico = network.get_attr("calico");
    let number = |v: &Value| v.as_i64();
    let spec = mke_k0s::ClusterSpec {
        name,
        controllers,
        api: mke_k0s::ApiSpec {
            external_address,
            sans,
        },
        network: mke_k0s::NetworkSpec {
            pod_cidr: network.get_attr("pod_cidr").as_str()?.to_string(),
            service_cidr: network.get_attr("service_cidr").as_str()?.to_string(),
            cluster_domain: network.get_attr("cluster_domain").as_str()?.to_string(),
            kube_proxy_mode: network.get_attr("kube_proxy_mode").as_str()?.parse().ok()?,
            calico: mke_k0s::CalicoSpec {
                mode: calico.get_attr("mode").as_str()?.parse().ok()?,
                vxlan_port: u16::try_from(number(calico.get_attr("vxlan_port"))?).ok()?,
                vxlan_vni: u32::try_from(number(calico.get_attr("vxlan_vni"))?).ok()?,
                mtu: u32::try_from(number(calico.get_attr("mtu"))?).ok()?,
                wireguard: matches!(calico.get_attr("wireguard"), Value::Bool(true)),
            },
        },
        overrides_yaml: match planned.get_attr("k0s_config_overrides") {
            Value::Null => None,
            v => Some(v.as_str()?.to_string()),
        },
    };
    Some(spec)
}

/// Controller addresses, the leader first. The leader is kept while it
/// remains; otherwise the first key in sorted order leads.
pub fn controller_addresses(planned: &Value, prior: &Value) -> Option<Vec<String>> {
    let Value::Map(entries) = planned.get_attr("controllers") else {
        return None;
    };
    let mut addresses = entries
        .values()
        .map(|e| e.get_attr("address").as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    let prior_leader = match prior.get_attr("controller_addresses") {
        Value::List(items) => items.first().and_then(Value::as_str).map(str::to_string),
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
    crate::resources::private::plan(&mut plan.planned);
    let planned = plan.planned.clone();
    let addresses = controller_addresses(&planned, request.prior);
    match &addresses {
        Some(list) => {
            set(
                plan,
                "controller_addresses",
                Value::List(list.iter().cloned().map(Value::String).collect()),
            );
            let host = match planned.get_attr("api").get_attr("external_address") {
                Value::String(s) => Some(s.clone()),
                Value::Null => list.first().cloned(),
                _ => None,
            };
            set(
                plan,
                "api_endpoint",
                host.map(|h| {
                    Value::String(format!("https://{h}:{}", mke_k0s::model::KUBE_API_PORT))
                })
                .unwrap_or(Value::Unknown),
            );
        }
        None => {
            set(plan, "controller_addresses", Value::Unknown);
            set(plan, "api_endpoint", Value::Unknown);
        }
    }
    if let Value::Map(entries) = planned.get_attr("controllers") {
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
        Some(spec) => {
            if let Some(yaml) = render_checked(&mut plan.diagnostics, &spec) {
                // A prior config that says the same (an adopted cluster's
                // file, written by another tool) is kept as it reads.
                let same = request
                    .prior
                    .get_attr("k0s_config")
                    .as_str()
                    .filter(|prior| mke_k0s::configs_equal(prior, &yaml))
                    .map(str::to_string);
                set(plan, "k0s_config", Value::String(same.unwrap_or(yaml)));
            }
        }
        None => set(plan, "k0s_config", Value::Unknown),
    }
    check_upgrade_in_place(request, plan, "cluster");
    plan_binary_source(request, plan);
    warn_of_reinstall_without_unmanaged_flags(request, plan);
    if request.prior.is_null() {
        // Only an import adopts: a cluster this provider creates has neither.
        set(plan, "adopted_ca_sha256", Value::Null);
        set(plan, "unmanaged_install_flags", Value::Null);
    }
    plan_restore(request, plan);
    plan_last_backup(request, plan);
    let replaced: Vec<String> = plan
        .requires_replace
        .iter()
        .map(|p| p.to_string())
        .filter(|p| {
            IMMUTABLE_NETWORK
                .iter()
                .any(|(attribute, _)| attribute == p)
        })
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

/// An adopted cluster whose controllers' units carry flags no attribute
/// expresses: a plan that reinstalls a unit (a new version, or `workloads`
/// changed on that controller) drops them.
fn warn_of_reinstall_without_unmanaged_flags(request: &PlanRequest<'_>, plan: &mut Plan) {
    let Value::Map(by_key) = request.prior.get_attr("unmanaged_install_flags") else {
        return;
    };
    let upgrade = plan.planned.get_attr("k0s_version") != request.prior.get_attr("k0s_version");
    for (key, flags) in by_key {
        let Some(flags) = flags.as_str().filter(|f| !f.is_empty()) else {
            continue;
        };
        let workloads = |v: &Value| {
            v.get_attr("controllers")
                .get_attr(key)
                .get_attr("workloads")
                .clone()
        };
        let planned = plan.planned.get_attr("controllers").get_attr(key).clone();
        let reinstall =
            !planned.is_null() && (upgrade || workloads(&plan.planned) != workloads(request.prior));
        if reinstall {
            plan.diagnostics.warning(
                format!("This change reinstalls k0s on controller {key} without flags it was installed with"),
                format!(
                    "Its k0s unit carries {flags}, which no attribute of mke_cluster expresses \
                     (it was installed by another tool). This change reinstalls the unit, and the \
                     flags are gone after it."
                ),
            );
        }
    }
}

/// `last_backup`: null at create; unknown in an update that may stop a controller while
/// `backup.before_change` is set (a new version, a new rendered config, a controller removed or
/// switched to or from running workloads); otherwise the prior value. Apply takes a backup only
/// when this left it unknown.
pub fn plan_last_backup(request: &PlanRequest<'_>, plan: &mut Plan) {
    if request.prior.is_null() {
        set(plan, "last_backup", Value::Null);
        return;
    }
    let wanted = match plan.planned.get_attr("backup").get_attr("before_change") {
        Value::Bool(b) => *b,
        Value::Unknown => true,
        _ => false,
    };
    if wanted && may_stop_a_controller(request.prior, &plan.planned) {
        set(plan, "last_backup", Value::Unknown);
    }
}

fn may_stop_a_controller(prior: &Value, planned: &Value) -> bool {
    let changed = |name: &str| planned.get_attr(name) != prior.get_attr(name);
    if changed("k0s_version") || changed("k0s_config") {
        return true;
    }
    // By address: a controller removed, or one whose `workloads` changes (a reinstall).
    let by_address = |v: &Value| -> Option<std::collections::BTreeMap<String, Value>> {
        match v.get_attr("controllers") {
            Value::Map(entries) => Some(
                entries
                    .values()
                    .filter_map(|c| {
                        let address = c.get_attr("address").as_str()?.to_string();
                        Some((address, c.get_attr("workloads").clone()))
                    })
                    .collect(),
            ),
            _ => None,
        }
    };
    match (by_address(prior), by_address(planned)) {
        (Some(before), Some(after)) => before
            .iter()
            .any(|(address, workloads)| after.get(address) != Some(workloads)),
        _ => true,
    }
}

/// `restore_from`. On an existing cluster, a new archive replaces the cluster and removing the
/// attribute changes nothing. Planning a create, a readable archive is read whole (the only time
/// the plan reads it): it must verify, its network settings must equal the plan's, and its API
/// address should be the planned one. An archive not readable yet is checked at apply, before
/// any host is touched.
pub fn plan_restore(request: &PlanRequest<'_>, plan: &mut Plan) {
    let attribute = AttributePath::root().attribute("restore_from");
    let planned = plan.planned.get_attr("restore_from").clone();
    if !request.prior.is_null() {
        let prior = request.prior.get_attr("restore_from");
        if !planned.is_null() && planned != *prior {
            plan.requires_replace.push(attribute);
        }
        return;
    }
    let Value::String(path) = planned else {
        return;
    };
    let archive = std::path::Path::new(&path);
    let summary = match crate::ops::phase::restore::check_archive(archive) {
        Ok(summary) => summary,
        Err(e) => {
            plan.diagnostics.error_at(
                attribute,
                "Cannot restore from this archive",
                format!("{e}. {}", crate::resources::diagnose::hint(&e)),
            );
            return;
        }
    };
    let Value::String(config) = plan.planned.get_attr("k0s_config").clone() else {
        return;
    };
    match crate::ops::phase::restore::network_differences(&summary, &config) {
        Err(message) => plan.diagnostics.error_at(
            attribute,
            "Cannot restore from this archive",
            format!("{path}: {message}"),
        ),
        Ok(differences) => {
            for d in differences {
                let (at, what) = match d.key {
                    "spec.network.podCIDR" => (network_path(&["pod_cidr"]), "network.pod_cidr"),
                    "spec.network.serviceCIDR" => {
                        (network_path(&["service_cidr"]), "network.service_cidr")
                    }
                    "spec.network.clusterDomain" => {
                        (network_path(&["cluster_domain"]), "network.cluster_domain")
                    }
                    "spec.network.calico.mode" => {
                        (network_path(&["calico", "mode"]), "network.calico.mode")
                    }
                    _ => (
                        AttributePath::root().attribute("restore_from"),
                        "restore_from",
                    ),
                };
                plan.diagnostics.error_at(
                    at,
                    "The backup's network differs from the plan",
                    format!(
                        "{path} comes from a cluster whose {} was {}; the plan has {}. The \
                         restored Pods, Services and DNS names were allocated from the archive's \
                         settings: set {what} to match it{}.",
                        d.key,
                        d.archived,
                        d.planned,
                        if what == "restore_from" {
                            " (only Calico clusters, MKE 4, can be restored by this provider)"
                        } else {
                            ""
                        }
                    ),
                );
            }
        }
    }
    // The address the old API answered at: the configured one, else (a controller's own
    // address) one of the certificate's names.
    let archived_api = mke_k0s::backup::archived_settings(&summary.k0s_yaml)
        .ok()
        .and_then(|s| match s.api_address() {
            Some(address) => Some(vec![address.to_string()]),
            None => (!s.sans.is_empty()).then_some(s.sans),
        });
    let planned_api = match plan.planned.get_attr("api_endpoint") {
        Value::String(endpoint) => endpoint
            .trim_start_matches("https://")
            .rsplit_once(':')
            .map(|(host, _)| host.trim_matches(['[', ']']).to_string()),
        _ => None,
    };
    if let (Some(archived), Some(planned)) = (archived_api, planned_api) {
        if !archived.contains(&planned) {
            let archived = archived.join(" or ");
            plan.diagnostics.push(
                tfplugin::Diagnostic::warning(
                    "The restored cluster gets another API address",
                    format!(
                        "{path} comes from a cluster whose API address was {archived}; this \
                         cluster's is {planned}. Workers that joined the old cluster reach it \
                         only at the old address: they stay NotReady until their `mke_node` is \
                         replaced. Set `api.external_address` (or the first controller's \
                         address) to {archived} to keep them."
                    ),
                )
                .at(AttributePath::root().attribute("restore_from")),
            );
        }
    }
}

fn network_path(steps: &[&str]) -> AttributePath {
    steps
        .iter()
        .fold(AttributePath::root().attribute("network"), |p, s| {
            p.attribute(*s)
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn object(entries: &[(&str, Value)]) -> Value {
        Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn controllers(addresses: &[(&str, &str)]) -> Value {
        Value::Map(
            addresses
                .iter()
                .map(|(k, a)| (k.to_string(), object(&[("address", Value::from(*a))])))
                .collect(),
        )
    }

    fn config(controllers: Value, extra: &[(&str, Value)]) -> Value {
        let mut c = object(&[("name", Value::from("demo")), ("controllers", controllers)]);
        if let Value::Object(f) = &mut c {
            for (k, v) in extra {
                f.insert(k.to_string(), v.clone());
            }
        }
        c
    }

    /// The plan Terraform would get for `config` over `prior`.
    fn plan(prior: &Value, config: &Value) -> Plan {
        crate::resources::plan_for(&schema(), prior, config, plan_cluster)
    }

    #[test]
    fn last_backup_is_unknown_only_where_the_update_may_stop_a_controller() {
        let hosts = |list: &[(&str, &str)]| controllers(list);
        let backup = object(&[("directory", Value::from("./bk"))]);
        let with = |list: &[(&str, &str)], version: &str, backup: Option<Value>| {
            let mut extra = vec![("k0s_version", Value::from(version))];
            if let Some(b) = backup {
                extra.push(("backup", b));
            }
            config(hosts(list), &extra)
        };
        let two = [("a", "192.0.2.11"), ("b", "192.0.2.12")];
        let created = plan(
            &Value::Null,
            &with(&two, "v1.29.3+k0s.0", Some(backup.clone())),
        );
        assert_eq!(
            created.planned.get_attr("last_backup"),
            &Value::Null,
            "create"
        );
        let prior = created.planned;
        let last = |p: &Plan| p.planned.get_attr("last_backup").clone();
        let same = plan(&prior, &with(&two, "v1.29.3+k0s.0", Some(backup.clone())));
        assert_eq!(last(&same), Value::Null, "no change, no backup");
        let upgrade = plan(&prior, &with(&two, "v1.30.0+k0s.0", Some(backup.clone())));
        assert_eq!(last(&upgrade), Value::Unknown, "an upgrade backs up first");
        let removal = plan(
            &prior,
            &with(&two[..1], "v1.29.3+k0s.0", Some(backup.clone())),
        );
        assert_eq!(last(&removal), Value::Unknown, "a removal backs up first");
        let off = object(&[("before_change", Value::from(false))]);
        let upgrade_off = plan(&prior, &with(&two, "v1.30.0+k0s.0", Some(off)));
        assert_eq!(last(&upgrade_off), Value::Null, "before_change = false");
        let upgrade_unset = plan(&prior, &with(&two, "v1.30.0+k0s.0", None));
        assert_eq!(last(&upgrade_unset), Value::Null, "no backup block");
    }

    #[test]
    fn restore_from_replaces_the_cluster_only_when_set_to_another_archive() {
        let hosts = || controllers(&[("a", "192.0.2.11")]);
        let from = |path: &str| config(hosts(), &[("restore_from", Value::from(path))]);
        let created = plan(&Value::Null, &from("/backups/missing.tar.gz"));
        assert!(
            texts(&created.diagnostics).contains("/backups/missing.tar.gz"),
            "an unreadable archive is refused at plan, naming it: {:?}",
            created.diagnostics
        );
        let prior = created.planned;
        let replaced = |p: &Plan| {
            p.requires_replace
                .iter()
                .any(|a| a.to_string() == "restore_from")
        };
        assert!(!replaced(&plan(&prior, &config(hosts(), &[]))), "removed");
        assert!(
            !replaced(&plan(&prior, &from("/backups/missing.tar.gz"))),
            "kept"
        );
        assert!(
            replaced(&plan(&prior, &from("/backups/other.tar.gz"))),
            "another"
        );
    }

    fn texts(d: &Diagnostics) -> String {
        format!("{d:?}")
    }

    #[test]
    fn a_new_cluster_plans_its_endpoint_status_and_rendered_config() {
        let c = config(controllers(&[("cp1", "192.0.2.11")]), &[]);
        let p = plan(&Value::Null, &c);
        assert_eq!(
            p.planned.get_attr("api_endpoint").as_str(),
            Some("https://192.0.2.11:6443")
        );
        assert_eq!(
            p.planned.get_attr("host_status").get_attr("cp1").as_str(),
            Some("running")
        );
        let rendered = p.planned.get_attr("k0s_config").as_str().unwrap();
        assert!(rendered.contains("10.244.0.0/16"), "{rendered}");
        assert!(rendered.contains("calico"), "{rendered}");
        assert!(!p.diagnostics.has_errors(), "{}", texts(&p.diagnostics));
    }

    #[test]
    fn an_external_address_becomes_the_endpoint() {
        let api = object(&[("external_address", Value::from("lb.example.com"))]);
        let c = config(controllers(&[("cp1", "192.0.2.11")]), &[("api", api)]);
        let p = plan(&Value::Null, &c);
        assert_eq!(
            p.planned.get_attr("api_endpoint").as_str(),
            Some("https://lb.example.com:6443")
        );
    }

    #[test]
    fn an_even_number_of_controllers_is_warned_about() {
        let c = config(
            controllers(&[("a", "192.0.2.11"), ("b", "192.0.2.12")]),
            &[],
        );
        let p = plan(&Value::Null, &c);
        assert!(texts(&p.diagnostics).contains("Even number of controllers"));
    }

    #[test]
    fn the_leader_stays_first_while_it_remains() {
        let planned = config(
            controllers(&[("a", "192.0.2.11"), ("b", "192.0.2.12")]),
            &[],
        );
        let prior = object(&[(
            "controller_addresses",
            Value::List(vec![Value::from("192.0.2.12"), Value::from("192.0.2.11")]),
        )]);
        assert_eq!(
            controller_addresses(&planned, &prior).unwrap(),
            vec!["192.0.2.12".to_string(), "192.0.2.11".to_string()]
        );
        assert_eq!(
            controller_addresses(&planned, &Value::Null).unwrap(),
            vec!["192.0.2.11".to_string(), "192.0.2.12".to_string()]
        );
    }

    #[test]
    fn unknown_addresses_leave_the_computed_values_unknown() {
        let c = config(
            Value::Map(BTreeMap::from([(
                "cp1".to_string(),
                object(&[("address", Value::Unknown)]),
            )])),
            &[],
        );
        let p = plan(&Value::Null, &c);
        assert!(p.planned.get_attr("api_endpoint").is_unknown());
        assert!(p.planned.get_attr("k0s_config").is_unknown());
    }

    #[test]
    fn changing_an_immutable_network_setting_warns_that_the_cluster_is_rebuilt() {
        let before = config(controllers(&[("cp1", "192.0.2.11")]), &[]);
        let prior = plan(&Value::Null, &before).planned;
        let network = object(&[("pod_cidr", Value::from("10.32.0.0/16"))]);
        let after = config(
            controllers(&[("cp1", "192.0.2.11")]),
            &[("network", network)],
        );
        let p = plan(&prior, &after);
        assert!(
            texts(&p.diagnostics).contains("This change rebuilds the whole cluster"),
            "{}",
            texts(&p.diagnostics)
        );
    }

    #[test]
    fn overlapping_ranges_and_bad_overrides_fail_validation_on_their_attribute() {
        let network = object(&[
            ("pod_cidr", Value::from("10.96.0.0/16")),
            ("service_cidr", Value::from("10.96.0.0/12")),
        ]);
        let d = validate_config(&config(
            controllers(&[("cp1", "192.0.2.11")]),
            &[("network", network)],
        ));
        assert!(texts(&d).contains("Overlapping pod and service ranges"));

        let d = validate_config(&config(
            controllers(&[("cp1", "192.0.2.11")]),
            &[(
                "k0s_config_overrides",
                Value::from("spec:\n  api:\n    port: 7443\n"),
            )],
        ));
        assert!(d.has_errors(), "spec.api.port may not be overridden");
    }

    /// (attribute path, summary, detail) of each error.
    fn errors(d: &Diagnostics) -> Vec<(String, String, String)> {
        d.iter()
            .filter(|x| x.severity == tfplugin::Severity::Error)
            .map(|x| {
                (
                    x.attribute
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    x.summary.clone(),
                    x.detail.clone(),
                )
            })
            .collect()
    }

    fn with_overrides(yaml: &str) -> Value {
        config(
            controllers(&[("cp1", "192.0.2.11")]),
            &[("k0s_config_overrides", Value::from(yaml))],
        )
    }

    #[test]
    fn an_override_of_an_immutable_network_key_names_the_attribute_to_use() {
        let found = errors(&validate_config(&with_overrides(
            "spec:\n  network:\n    podCIDR: 10.32.0.0/16\n    calico:\n      vxlanVNI: 7\n",
        )));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "k0s_config_overrides");
        assert_eq!(found[0].1, "Override of a setting that cannot change");
        assert_eq!(
            found[0].2,
            "spec.network.podCIDR: the overrides would change it from \"10.244.0.0/16\" to \
             \"10.32.0.0/16\", and it cannot change under a running cluster.\n\nSet \
             `network.pod_cidr` instead and remove this key from k0s_config_overrides: Terraform \
             then shows the change as what it is, a rebuild of the cluster."
        );
        assert!(
            found[1].2.starts_with("spec.network.calico.vxlanVNI:")
                && found[1]
                    .2
                    .contains("Set `network.calico.vxlan_vni` instead"),
            "{found:?}"
        );
    }

    #[test]
    fn an_override_equal_to_the_rendered_value_is_allowed() {
        let network = object(&[("pod_cidr", Value::from("10.32.0.0/16"))]);
        let c = config(
            controllers(&[("cp1", "192.0.2.11")]),
            &[
                ("network", network),
                (
                    "k0s_config_overrides",
                    Value::from("spec: {network: {podCIDR: 10.32.0.0/16, calico: {mode: vxlan}}}"),
                ),
            ],
        );
        let d = validate_config(&c);
        assert!(!d.has_errors(), "{d:?}");
        assert!(!plan(&Value::Null, &c).diagnostics.has_errors());
    }

    #[test]
    fn an_immutable_override_is_refused_by_the_plan_too() {
        // Validation skips the rendering while an input is unknown, so the
        // plan, which sees the values, checks again.
        let c = with_overrides("spec: {network: {clusterDomain: example.local}}");
        let p = plan(&Value::Null, &c);
        let found = errors(&p.diagnostics);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].2.contains("Set `network.cluster_domain` instead"),
            "{found:?}"
        );
    }

    #[test]
    fn a_forbidden_override_says_what_to_set_instead() {
        for (yaml, advice) in [
            ("spec: {api: {port: 7443}}", "on port 6443; remove this key"),
            (
                "spec: {api: {address: 10.0.0.1}}",
                "from `controllers.<key>.private_address`",
            ),
            (
                "spec: {network: {provider: kuberouter}}",
                "MKE 4 runs Calico",
            ),
        ] {
            let found = errors(&validate_config(&with_overrides(yaml)));
            assert_eq!(found.len(), 1, "{yaml}: {found:?}");
            assert_eq!(found[0].0, "k0s_config_overrides");
            assert!(found[0].2.contains(advice), "{yaml}: {found:?}");
        }
    }

    #[test]
    fn zero_time_limits_are_refused() {
        let c = config(
            controllers(&[("cp1", "192.0.2.11")]),
            &[("timeouts", object(&[("create", Value::from("0s"))]))],
        );
        let found = errors(&validate_config(&c));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "timeouts.create");
        assert!(found[0].2.contains("must be longer than zero"), "{found:?}");
    }

    #[test]
    fn a_dns_private_address_is_refused() {
        let c = config(
            Value::Map(BTreeMap::from([(
                "cp1".to_string(),
                object(&[
                    ("address", Value::from("cp1.example.com")),
                    ("private_address", Value::from("cp1.internal")),
                ]),
            )])),
            &[],
        );
        let found = errors(&validate_config(&c));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "controllers[\"cp1\"].private_address");
    }

    fn versioned(version: &str, extra: &[(&str, Value)]) -> Value {
        let mut fields = vec![("k0s_version", Value::from(version))];
        fields.extend(extra.iter().cloned());
        config(controllers(&[("cp1", "192.0.2.11")]), &fields)
    }

    #[test]
    fn in_place_downgrades_and_minor_skips_are_refused() {
        let prior = plan(&Value::Null, &versioned("v1.29.3+k0s.0", &[])).planned;
        // A patch back within the minor is how drift found by a refresh (a
        // controller upgraded by hand) is put back.
        for fine in [
            "v1.29.3+k0s.0",
            "v1.29.4+k0s.0",
            "v1.30.1+k0s.0",
            "v1.29.2+k0s.0",
        ] {
            let p = plan(&prior, &versioned(fine, &[]));
            assert!(errors(&p.diagnostics).is_empty(), "{fine}");
        }
        let p = plan(&prior, &versioned("v1.28.8+k0s.0", &[]));
        let found = errors(&p.diagnostics);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "k0s_version");
        assert_eq!(
            found[0].2,
            "v1.29.3+k0s.0 cannot be downgraded to v1.28.8+k0s.0 in place: k0s and etcd do not \
             support going back to an older minor release.\n\nThe state records v1.29.3+k0s.0 \
             as running (as applied, or as the last refresh found it). Keep k0s_version at v1.29 \
             or later. Running an older minor release needs a new cluster: mark it with \
             `terraform taint <address>` and apply, which rebuilds it."
        );
        let p = plan(&prior, &versioned("v1.31.0+k0s.0", &[]));
        let found = errors(&p.diagnostics);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .2
                .starts_with("v1.29.3+k0s.0 cannot be upgraded to v1.31.0+k0s.0 in one step"),
            "{found:?}"
        );
    }

    #[test]
    fn a_rebuild_may_go_to_an_older_version() {
        let prior = plan(&Value::Null, &versioned("v1.30.1+k0s.0", &[])).planned;
        let network = object(&[("pod_cidr", Value::from("10.32.0.0/16"))]);
        let p = plan(&prior, &versioned("v1.29.3+k0s.0", &[("network", network)]));
        assert!(!p.requires_replace.is_empty());
        assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    }

    fn downloading(extra: &[(&str, Value)]) -> Diagnostics {
        validate_config(&config(controllers(&[("cp1", "192.0.2.11")]), extra))
    }

    #[test]
    fn plain_http_is_refused_unless_allowed_and_then_warned_about_without_a_checksum() {
        let url = (
            "k0s_download_url",
            Value::from("http://u:pw@mirror.internal/k0s-{version}"),
        );
        let found = errors(&downloading(std::slice::from_ref(&url)));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "k0s_download_url");
        assert_eq!(found[0].1, "Plain HTTP download refused");
        assert!(
            found[0]
                .2
                .starts_with("k0s_download_url it uses plain `http://`")
                && found[0].2.contains("set `k0s_download_allow_http = true`"),
            "{found:?}"
        );
        assert!(!found[0].2.contains("pw@"), "the URL is never quoted");

        let allowed = ("k0s_download_allow_http", Value::Bool(true));
        let d = downloading(&[url.clone(), allowed.clone()]);
        assert!(!d.has_errors(), "{d:?}");
        assert!(texts(&d).contains("k0s downloaded over plain HTTP without a checksum"));
        let sum = ("k0s_sha256", Value::from("ab".repeat(32)));
        assert!(downloading(&[url.clone(), allowed, sum]).is_empty());
        // An opt-in not known yet leaves the scheme to the plan, which knows it.
        let unknown = ("k0s_download_allow_http", Value::Unknown);
        assert!(!downloading(&[url.clone(), unknown]).has_errors());
        let c = config(controllers(&[("cp1", "192.0.2.11")]), &[url]);
        let found = errors(&plan(&Value::Null, &c).diagnostics);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, "Plain HTTP download refused");
    }

    #[test]
    fn a_malformed_download_url_or_checksum_is_refused_on_its_attribute() {
        for (template, detail) in [
            ("https://x/k0s-{os}", "`{os}` is not a placeholder"),
            ("ftp://x/k0s", "the scheme `ftp://` is not supported"),
            ("mirror/k0s", "it has no scheme"),
            (
                "file://mirror/k0s",
                "a `file://` URL names a file on the host itself",
            ),
        ] {
            let found = errors(&downloading(&[("k0s_download_url", Value::from(template))]));
            assert_eq!(found.len(), 1, "{template}: {found:?}");
            assert_eq!(found[0].0, "k0s_download_url");
            assert_eq!(found[0].1, "Invalid k0s_download_url");
            assert!(found[0].2.starts_with(detail), "{template}: {found:?}");
        }
        let found = errors(&downloading(&[("k0s_sha256", Value::from("sha256:abc"))]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "k0s_sha256");
        assert!(found[0].2.contains("64 hexadecimal digits"), "{found:?}");
        for fine in [
            (
                "k0s_download_url",
                Value::from("file:///opt/k0s/k0s-{version}-{arch}"),
            ),
            ("k0s_sha256", Value::from("AB".repeat(32))),
        ] {
            assert!(
                downloading(std::slice::from_ref(&fine)).is_empty(),
                "{fine:?}"
            );
        }
    }
}
