//! The k0s ClusterConfig: rendering from a [`ClusterSpec`], overrides, per-host files and strict
//! validation against the keys k0s v1.29.3 knows.

use crate::cli::parse_duration;
use crate::model::{is_ip_or_dns_name, ClusterSpec};
use crate::yaml::{self, KeyPath, ParseFailure};
use serde_yaml_ng::{Mapping, Value};
use std::net::IpAddr;

pub const CLUSTER_CONFIG_API_VERSION: &str = "k0s.k0sproject.io/v1beta1";
pub const CLUSTER_CONFIG_KIND: &str = "ClusterConfig";

/// Keys `k0s_config_overrides` may not set: the provider derives them per host or relies on them.
pub const FORBIDDEN_OVERRIDES: &[&[&str]] = &[
    &["spec", "api", "port"],
    &["spec", "api", "address"],
    &["spec", "network", "provider"],
    &["spec", "storage", "etcd", "peerAddress"],
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid YAML: {message}")]
    InvalidYaml { message: String },
    #[error("{path}: YAML tags are not supported")]
    Tagged { path: String },
    #[error("{path}: expected a mapping, found {found}")]
    NotAMapping { path: String, found: String },
    #[error("{path}: k0s_config_overrides may not set this key: {reason}")]
    ForbiddenOverride { path: String, reason: String },
    #[error("{path}: unknown field {field:?}, k0s v1.29.3 does not accept it{}", suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default())]
    UnknownField {
        path: String,
        field: String,
        suggestion: Option<String>,
    },
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ConfigError {
    /// The key path the error is about, e.g. `spec.network.calico.mtu`.
    pub fn path(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidYaml { .. } => None,
            ConfigError::Tagged { path }
            | ConfigError::NotAMapping { path, .. }
            | ConfigError::ForbiddenOverride { path, .. }
            | ConfigError::UnknownField { path, .. }
            | ConfigError::WrongType { path, .. }
            | ConfigError::Invalid { path, .. } => Some(path),
        }
    }
}

fn parse(text: &str) -> Result<Value, ConfigError> {
    yaml::parse(text).map_err(|failure| match failure {
        ParseFailure::Syntax(message) => ConfigError::InvalidYaml { message },
        ParseFailure::Tagged(path) => ConfigError::Tagged { path },
    })
}

/// Parses a document that must be a mapping; an empty document counts as an empty mapping.
fn parse_mapping(text: &str) -> Result<Mapping, ConfigError> {
    match parse(text)? {
        Value::Null => Ok(Mapping::new()),
        Value::Mapping(mapping) => Ok(mapping),
        other => Err(ConfigError::NotAMapping {
            path: KeyPath::root().to_string(),
            found: describe(&other),
        }),
    }
}

fn key(name: &str) -> Value {
    Value::String(name.to_owned())
}

fn mapping_of<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Mapping(
        entries
            .into_iter()
            .map(|(name, value)| (key(name), value))
            .collect(),
    )
}

/// The cluster-wide ClusterConfig written to `/etc/k0s/k0s.yaml` (before [`host_config`]).
pub fn render_cluster_config(spec: &ClusterSpec) -> Result<String, ConfigError> {
    let mut sans: Vec<&str> = Vec::new();
    let addresses = spec
        .controllers
        .iter()
        .flat_map(|controller| {
            std::iter::once(controller.address.as_str())
                .chain(controller.private_address.as_deref())
        })
        .chain(spec.api.external_address.as_deref())
        .chain(spec.api.sans.iter().map(String::as_str));
    for address in addresses {
        if !sans.contains(&address) {
            sans.push(address);
        }
    }

    let mut api = Mapping::new();
    api.insert(
        key("sans"),
        Value::Sequence(sans.into_iter().map(Value::from).collect()),
    );
    if let Some(external) = &spec.api.external_address {
        api.insert(key("externalAddress"), external.as_str().into());
    }

    let calico = &spec.network.calico;
    let mut network = Mapping::new();
    network.insert(key("provider"), "calico".into());
    network.insert(key("podCIDR"), spec.network.pod_cidr.as_str().into());
    network.insert(
        key("serviceCIDR"),
        spec.network.service_cidr.as_str().into(),
    );
    network.insert(
        key("clusterDomain"),
        spec.network.cluster_domain.as_str().into(),
    );
    network.insert(
        key("kubeProxy"),
        mapping_of([("mode", spec.network.kube_proxy_mode.as_str().into())]),
    );
    network.insert(
        key("calico"),
        mapping_of([
            ("mode", calico.mode.as_str().into()),
            ("vxlanPort", calico.vxlan_port.into()),
            ("vxlanVNI", calico.vxlan_vni.into()),
            // Always written: with the calico block present and no mtu, k0s uses 1450.
            ("mtu", calico.mtu.into()),
            ("wireguard", calico.wireguard.into()),
        ]),
    );
    // Without a load balancer, workers need their own way to reach every controller.
    if spec.controllers.len() > 1 && spec.api.external_address.is_none() {
        network.insert(
            key("nodeLocalLoadBalancing"),
            mapping_of([("enabled", true.into()), ("type", "EnvoyProxy".into())]),
        );
    }

    let mut document = mapping_of([
        ("apiVersion", CLUSTER_CONFIG_API_VERSION.into()),
        ("kind", CLUSTER_CONFIG_KIND.into()),
        (
            "metadata",
            mapping_of([("name", spec.name.as_str().into())]),
        ),
        (
            "spec",
            mapping_of([
                ("api", Value::Mapping(api)),
                ("network", Value::Mapping(network)),
            ]),
        ),
    ]);

    if let Some(overrides) = &spec.overrides_yaml {
        check_overrides(overrides)?;
        deep_merge(&mut document, Value::Mapping(parse_mapping(overrides)?));
    }
    drop_default_storage(&mut document);
    Ok(yaml::emit(&document))
}

/// Maps merge recursively, anything else (lists included) replaces, and a null deletes the key.
fn deep_merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (name, value) in overlay {
                if value.is_null() {
                    base.remove(&name);
                } else if let Some(existing) = base.get_mut(&name) {
                    deep_merge(existing, value);
                } else {
                    // Merging into an empty mapping drops nulls nested in the new value too.
                    let mut fresh = if value.is_mapping() {
                        Value::Mapping(Mapping::new())
                    } else {
                        Value::Null
                    };
                    deep_merge(&mut fresh, value);
                    base.insert(name, fresh);
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// A storage block that only says what k0s assumes anyway (`type: etcd`, empty `etcd`) is
/// dropped, so that [`strip_host_keys`] can tell exactly what [`host_config`] added.
fn drop_default_storage(document: &mut Value) {
    let Some(spec) = document.get_mut("spec").and_then(Value::as_mapping_mut) else {
        return;
    };
    let Some(storage) = spec.get_mut("storage").and_then(Value::as_mapping_mut) else {
        return;
    };
    if storage
        .get("etcd")
        .and_then(Value::as_mapping)
        .is_some_and(Mapping::is_empty)
    {
        storage.remove("etcd");
    }
    let only_default_type = storage
        .iter()
        .all(|(name, value)| name.as_str() == Some("type") && value.as_str() == Some("etcd"));
    if only_default_type {
        spec.remove("storage");
    }
}

/// Plan-time check of `k0s_config_overrides`: valid YAML, a mapping at the top, and none of
/// [`FORBIDDEN_OVERRIDES`] set, deleted, or replaced wholesale through a parent.
pub fn check_overrides(yaml_text: &str) -> Result<(), ConfigError> {
    let overrides = parse_mapping(yaml_text)?;
    for (name, expected) in [
        ("apiVersion", CLUSTER_CONFIG_API_VERSION),
        ("kind", CLUSTER_CONFIG_KIND),
    ] {
        match overrides.get(name) {
            None => {}
            Some(value) if value.as_str() == Some(expected) => {}
            Some(_) => {
                return Err(ConfigError::ForbiddenOverride {
                    path: name.to_owned(),
                    reason: format!("it must stay {expected:?}"),
                })
            }
        }
    }
    for forbidden in FORBIDDEN_OVERRIDES {
        let full = forbidden.join(".");
        let mut level = &overrides;
        for (depth, step) in forbidden.iter().enumerate() {
            let path = forbidden[..=depth].join(".");
            let Some(value) = level.get(*step) else { break };
            if depth + 1 == forbidden.len() {
                return Err(ConfigError::ForbiddenOverride {
                    path,
                    reason: "the provider manages it".to_owned(),
                });
            }
            match value {
                Value::Mapping(next) => level = next,
                _ => {
                    return Err(ConfigError::ForbiddenOverride {
                        path,
                        reason: format!("replacing or deleting it would change {full}, which the provider manages; set the keys below it instead"),
                    })
                }
            }
        }
    }
    Ok(())
}

/// The file for one host: the cluster config plus, when the host has a private address, that
/// address as `spec.api.address` and `spec.storage.etcd.peerAddress`.
pub fn host_config(
    cluster_yaml: &str,
    private_address: Option<&str>,
) -> Result<String, ConfigError> {
    let mut document = parse_mapping(cluster_yaml)?;
    if let Some(address) = private_address {
        if address.parse::<IpAddr>().is_err() {
            return Err(ConfigError::Invalid {
                path: "spec.api.address".to_owned(),
                message: format!("{address:?} is not an IP address"),
            });
        }
        let spec = child_mapping(&mut document, "spec", "spec")?;
        child_mapping(spec, "api", "spec.api")?.insert(key("address"), address.into());
        if !spec.contains_key("storage") {
            spec.insert(key("storage"), mapping_of([("type", "etcd".into())]));
        }
        let storage = child_mapping(spec, "storage", "spec.storage")?;
        child_mapping(storage, "etcd", "spec.storage.etcd")?
            .insert(key("peerAddress"), address.into());
    }
    Ok(yaml::emit(&Value::Mapping(document)))
}

fn child_mapping<'a>(
    parent: &'a mut Mapping,
    name: &str,
    path: &str,
) -> Result<&'a mut Mapping, ConfigError> {
    let child = parent
        .entry(key(name))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if child.is_null() {
        *child = Value::Mapping(Mapping::new());
    }
    let found = describe(child);
    child
        .as_mapping_mut()
        .ok_or_else(|| ConfigError::NotAMapping {
            path: path.to_owned(),
            found,
        })
}

/// The inverse of [`host_config`]: what Read compares with the cluster-wide config.
pub fn strip_host_keys(host_yaml: &str) -> Result<String, ConfigError> {
    let mut document = Value::Mapping(parse_mapping(host_yaml)?);
    if let Some(spec) = document.get_mut("spec").and_then(Value::as_mapping_mut) {
        if let Some(api) = spec.get_mut("api").and_then(Value::as_mapping_mut) {
            api.remove("address");
            if api.is_empty() {
                spec.remove("api");
            }
        }
        if let Some(etcd) = spec
            .get_mut("storage")
            .and_then(|s| s.get_mut("etcd"))
            .and_then(Value::as_mapping_mut)
        {
            etcd.remove("peerAddress");
        }
    }
    drop_default_storage(&mut document);
    Ok(yaml::emit(&document))
}

/// Whether two configs say the same thing, whatever their formatting or key order.
pub fn configs_equal(a: &str, b: &str) -> bool {
    match (yaml::parse(a), yaml::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The shape of a key's value, from the ClusterConfig types of k0s v1.29.3.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Str,
    Int,
    Bool,
    /// A Go duration string (`metav1.Duration`).
    Duration,
    OneOf(&'static [&'static str]),
    StrList,
    StrMap,
    /// Free-form: anything is accepted below it.
    Any,
    Object(&'static [(&'static str, Shape)]),
    ListOf(&'static Shape),
}

use Shape::{Any, Bool, Duration, Int, ListOf, Object, OneOf, Str, StrList, StrMap};

const IMAGE: Shape = Object(&[("image", Str), ("version", Str)]);
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];

const API: Shape = Object(&[
    ("address", Str),
    ("externalAddress", Str),
    ("extraArgs", StrMap),
    ("k0sApiPort", Int),
    ("port", Int),
    ("sans", StrList),
]);

const STORAGE: Shape = Object(&[
    (
        "etcd",
        Object(&[
            (
                "externalCluster",
                Object(&[
                    ("caFile", Str),
                    ("clientCertFile", Str),
                    ("clientKeyFile", Str),
                    ("endpoints", StrList),
                    ("etcdPrefix", Str),
                ]),
            ),
            ("extraArgs", StrMap),
            ("peerAddress", Str),
        ]),
    ),
    ("kine", Object(&[("dataSource", Str)])),
    ("type", Str),
]);

const CALICO: Shape = Object(&[
    ("envVars", StrMap),
    ("flexVolumeDriverPath", Str),
    ("ipAutodetectionMethod", Str),
    ("ipV6AutodetectionMethod", Str),
    ("mode", OneOf(&["vxlan", "ipip", "bird"])),
    ("mtu", Int),
    ("overlay", OneOf(&["Always", "Never", "CrossSubnet"])),
    ("vxlanPort", Int),
    ("vxlanVNI", Int),
    ("wireguard", Bool),
]);

const KUBE_PROXY: Shape = Object(&[
    ("disabled", Bool),
    (
        "iptables",
        Object(&[
            ("localhostNodePorts", Bool),
            ("masqueradeAll", Bool),
            ("masqueradeBit", Int),
            ("minSyncPeriod", Duration),
            ("syncPeriod", Duration),
        ]),
    ),
    (
        "ipvs",
        Object(&[
            ("excludeCIDRs", StrList),
            ("minSyncPeriod", Duration),
            ("scheduler", Str),
            ("strictARP", Bool),
            ("syncPeriod", Duration),
            ("tcpFinTimeout", Duration),
            ("tcpTimeout", Duration),
            ("udpTimeout", Duration),
        ]),
    ),
    ("metricsBindAddress", Str),
    ("mode", OneOf(&["iptables", "ipvs", "userspace"])),
    ("nodePortAddresses", StrList),
]);

const KUBE_ROUTER: Shape = Object(&[
    ("autoMTU", Bool),
    ("extraArgs", StrMap),
    ("hairpin", OneOf(&["Enabled", "Allowed", "Disabled", ""])),
    ("hairpinMode", Bool),
    ("ipMasq", Bool),
    ("metricsPort", Int),
    ("mtu", Int),
    ("peerRouterASNs", Str),
    ("peerRouterIPs", Str),
]);

const NODE_LOCAL_LOAD_BALANCING: Shape = Object(&[
    ("enabled", Bool),
    (
        "envoyProxy",
        Object(&[
            ("apiServerBindPort", Int),
            ("image", IMAGE),
            (
                "imagePullPolicy",
                OneOf(&["Always", "Never", "IfNotPresent", ""]),
            ),
            ("konnectivityServerBindPort", Int),
        ]),
    ),
    ("type", OneOf(&["EnvoyProxy", ""])),
]);

const NETWORK: Shape = Object(&[
    ("calico", CALICO),
    ("clusterDomain", Str),
    (
        "dualStack",
        Object(&[
            ("IPv6podCIDR", Str),
            ("IPv6serviceCIDR", Str),
            ("enabled", Bool),
        ]),
    ),
    ("kubeProxy", KUBE_PROXY),
    ("kuberouter", KUBE_ROUTER),
    ("nodeLocalLoadBalancing", NODE_LOCAL_LOAD_BALANCING),
    ("podCIDR", Str),
    ("provider", OneOf(&["calico", "kuberouter", "custom"])),
    ("serviceCIDR", Str),
]);

const IMAGES: Shape = Object(&[
    (
        "calico",
        Object(&[("cni", IMAGE), ("kubecontrollers", IMAGE), ("node", IMAGE)]),
    ),
    ("coredns", IMAGE),
    ("default_pull_policy", OneOf(PULL_POLICIES)),
    ("konnectivity", IMAGE),
    ("kubeproxy", IMAGE),
    (
        "kuberouter",
        Object(&[("cni", IMAGE), ("cniInstaller", IMAGE)]),
    ),
    ("metricsserver", IMAGE),
    ("pause", IMAGE),
    ("pushgateway", IMAGE),
    ("repository", Str),
]);

const HELM_CHART: Shape = Object(&[
    ("chartname", Str),
    ("name", Str),
    ("namespace", Str),
    ("order", Int),
    // A Go time.Duration without a custom decoder: nanoseconds as an integer.
    ("timeout", Int),
    ("values", Str),
    ("version", Str),
]);

const HELM_REPOSITORY: Shape = Object(&[
    ("caFile", Str),
    ("certFile", Str),
    ("insecure", Bool),
    ("keyfile", Str),
    ("name", Str),
    ("password", Str),
    ("url", Str),
    ("username", Str),
]);

const EXTENSIONS: Shape = Object(&[
    (
        "helm",
        Object(&[
            ("charts", ListOf(&HELM_CHART)),
            ("concurrencyLevel", Int),
            ("repositories", ListOf(&HELM_REPOSITORY)),
        ]),
    ),
    (
        "storage",
        Object(&[("create_default_storage_class", Bool), ("type", Str)]),
    ),
]);

const FEATURE_GATE: Shape = Object(&[("components", StrList), ("enabled", Bool), ("name", Str)]);
const WORKER_PROFILE: Shape = Object(&[("name", Str), ("values", Any)]);

const SPEC: Shape = Object(&[
    ("api", API),
    ("controllerManager", Object(&[("extraArgs", StrMap)])),
    ("extensions", EXTENSIONS),
    ("featureGates", ListOf(&FEATURE_GATE)),
    ("images", IMAGES),
    (
        "installConfig",
        Object(&[(
            "users",
            Object(&[
                ("etcdUser", Str),
                ("kineUser", Str),
                ("konnectivityUser", Str),
                ("kubeAPIserverUser", Str),
                ("kubeSchedulerUser", Str),
            ]),
        )]),
    ),
    (
        "konnectivity",
        Object(&[("adminPort", Int), ("agentPort", Int)]),
    ),
    ("network", NETWORK),
    ("scheduler", Object(&[("extraArgs", StrMap)])),
    ("storage", STORAGE),
    ("telemetry", Object(&[("enabled", Bool)])),
    ("workerProfiles", ListOf(&WORKER_PROFILE)),
]);

/// `metadata` is a Kubernetes ObjectMeta.
const METADATA: Shape = Object(&[
    ("annotations", StrMap),
    ("creationTimestamp", Any),
    ("deletionGracePeriodSeconds", Int),
    ("deletionTimestamp", Any),
    ("finalizers", StrList),
    ("generateName", Str),
    ("generation", Int),
    ("labels", StrMap),
    ("managedFields", Any),
    ("name", Str),
    ("namespace", Str),
    ("ownerReferences", Any),
    ("resourceVersion", Str),
    ("selfLink", Str),
    ("uid", Str),
]);

const CLUSTER_CONFIG: Shape = Object(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", METADATA),
    ("spec", SPEC),
    ("status", Object(&[])),
]);

/// Keys a worker profile may not set (k0s refuses them).
const LOCKED_WORKER_PROFILE_KEYS: &[&str] = &[
    "clusterDNS",
    "clusterDomain",
    "apiVersion",
    "kind",
    "staticPodURL",
];

/// Rejects what k0s v1.29.3 would reject when it loads this config: unknown keys, values of the
/// wrong type, unsupported enumeration values and the cross-field rules of its validator.
///
/// Stricter than k0s in two ways, on purpose: keys must match in case (Go's JSON decoder would
/// accept `PodCIDR`, but the overrides merge is case-sensitive), and unknown keys are refused
/// under `spec.network`, `spec.storage` and `spec.images` too, where k0s v1.29.3 silently
/// ignores them because their custom decoders drop its unknown-field check.
pub fn validate_strict(yaml_text: &str) -> Result<(), ConfigError> {
    let document = Value::Mapping(parse_mapping(yaml_text)?);
    check_shape(&document, &CLUSTER_CONFIG, &mut KeyPath::root())?;
    check_rules(&document)
}

fn check_shape(value: &Value, shape: &Shape, path: &mut KeyPath) -> Result<(), ConfigError> {
    // Go's decoder leaves a field at its zero value for a JSON null.
    if value.is_null() || matches!(shape, Any) {
        return Ok(());
    }
    let wrong = |expected: &str| ConfigError::WrongType {
        path: path.to_string(),
        expected: expected.to_owned(),
        found: describe(value),
    };
    match shape {
        Str => value.as_str().map(|_| ()).ok_or_else(|| wrong("a string")),
        Int => (value.is_i64() || value.is_u64())
            .then_some(())
            .ok_or_else(|| wrong("an integer")),
        Bool => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| wrong("true or false")),
        Duration => {
            let text = value
                .as_str()
                .ok_or_else(|| wrong("a duration such as \"30s\""))?;
            parse_duration(text)
                .map(|_| ())
                .map_err(|error| ConfigError::Invalid {
                    path: path.to_string(),
                    message: error.to_string(),
                })
        }
        OneOf(allowed) => {
            let text = value.as_str().ok_or_else(|| wrong("a string"))?;
            if allowed.contains(&text) {
                Ok(())
            } else {
                let listed: Vec<&str> = allowed.iter().copied().filter(|a| !a.is_empty()).collect();
                Err(ConfigError::Invalid {
                    path: path.to_string(),
                    message: format!(
                        "unsupported value {text:?}; expected one of: {}",
                        listed.join(", ")
                    ),
                })
            }
        }
        StrList => {
            let items = value
                .as_sequence()
                .ok_or_else(|| wrong("a list of strings"))?;
            for (index, item) in items.iter().enumerate() {
                path.push_index(index);
                check_shape(item, &Str, path)?;
                path.pop();
            }
            Ok(())
        }
        StrMap => {
            let entries = value
                .as_mapping()
                .ok_or_else(|| wrong("a mapping of strings"))?;
            for (name, item) in entries {
                path.push_key(&yaml::scalar_text(name));
                check_shape(item, &Str, path)?;
                path.pop();
            }
            Ok(())
        }
        ListOf(item_shape) => {
            let items = value.as_sequence().ok_or_else(|| wrong("a list"))?;
            for (index, item) in items.iter().enumerate() {
                path.push_index(index);
                check_shape(item, item_shape, path)?;
                path.pop();
            }
            Ok(())
        }
        Object(fields) => {
            let entries = value.as_mapping().ok_or_else(|| wrong("a mapping"))?;
            for (name, item) in entries {
                let name_text = yaml::scalar_text(name);
                let Some((_, field_shape)) = fields.iter().find(|(known, _)| *known == name_text)
                else {
                    path.push_key(&name_text);
                    let error = ConfigError::UnknownField {
                        path: path.to_string(),
                        suggestion: suggest(&name_text, fields),
                        field: name_text,
                    };
                    return Err(error);
                };
                path.push_key(&name_text);
                check_shape(item, field_shape, path)?;
                path.pop();
            }
            Ok(())
        }
        Any => Ok(()),
    }
}

fn suggest(unknown: &str, fields: &[(&'static str, Shape)]) -> Option<String> {
    let lowered = unknown.to_ascii_lowercase();
    fields
        .iter()
        .map(|(known, _)| (*known, edit_distance(&lowered, &known.to_ascii_lowercase())))
        .filter(|(_, distance)| *distance <= 2)
        .min_by_key(|(_, distance)| *distance)
        .map(|(known, _)| known.to_owned())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Cross-field rules from k0s's `ClusterConfig.Validate`.
fn check_rules(document: &Value) -> Result<(), ConfigError> {
    let spec = &document["spec"];
    let api = &spec["api"];
    let network = &spec["network"];

    if let Some(sans) = api["sans"].as_sequence() {
        for (index, san) in sans.iter().enumerate() {
            if let Some(text) = san.as_str().filter(|text| !is_ip_or_dns_name(text)) {
                return Err(ConfigError::Invalid {
                    path: format!("spec.api.sans[{index}]"),
                    message: format!("{text:?} is neither an IP address nor a DNS name"),
                });
            }
        }
    }
    let external = api["externalAddress"].as_str().unwrap_or_default();
    if !external.is_empty() && !is_ip_or_dns_name(external) {
        return Err(ConfigError::Invalid {
            path: "spec.api.externalAddress".to_owned(),
            message: format!("{external:?} is neither an IP address nor a DNS name"),
        });
    }
    if let Some(address) = api["address"].as_str() {
        if address.parse::<IpAddr>().is_err() {
            return Err(ConfigError::Invalid {
                path: "spec.api.address".to_owned(),
                message: format!("{address:?} is not an IP address"),
            });
        }
    }
    if network["nodeLocalLoadBalancing"]["enabled"].as_bool() == Some(true) && !external.is_empty()
    {
        return Err(ConfigError::Invalid {
            path: "spec.network.nodeLocalLoadBalancing.enabled".to_owned(),
            message: "node-local load balancing cannot be used in conjunction with an external Kubernetes API server address".to_owned(),
        });
    }
    let provider = network["provider"].as_str().unwrap_or("kuberouter");
    let calico_mode = network["calico"]["mode"].as_str().unwrap_or("vxlan");
    if network["dualStack"]["enabled"].as_bool() == Some(true)
        && provider == "calico"
        && calico_mode != "bird"
    {
        return Err(ConfigError::Invalid {
            path: "spec.network.calico.mode".to_owned(),
            message: "dual stack for calico is only supported for mode `bird`".to_owned(),
        });
    }
    if let Some(profiles) = spec["workerProfiles"].as_sequence() {
        for (index, profile) in profiles.iter().enumerate() {
            let path = format!("spec.workerProfiles[{index}].values");
            let values = profile["values"]
                .as_mapping()
                .ok_or_else(|| ConfigError::WrongType {
                    path: path.clone(),
                    expected: "a mapping of kubelet settings".to_owned(),
                    found: describe(&profile["values"]),
                })?;
            if let Some(locked) = values
                .keys()
                .filter_map(Value::as_str)
                .find(|name| LOCKED_WORKER_PROFILE_KEYS.contains(name))
            {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.{locked}"),
                    message: format!(
                        "field `{locked}` is prohibited to override in worker profile"
                    ),
                });
            }
        }
    }
    Ok(())
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) => format!("the string {text:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(_) => "a tagged value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiSpec, CalicoMode, ControllerSpec, KubeProxyMode, NetworkSpec};

    fn controller(key: &str, address: &str, private_address: Option<&str>) -> ControllerSpec {
        ControllerSpec {
            key: key.to_owned(),
            address: address.to_owned(),
            private_address: private_address.map(str::to_owned),
            workloads: false,
        }
    }

    fn one_controller() -> ClusterSpec {
        ClusterSpec {
            name: "demo".to_owned(),
            controllers: vec![controller("cp1", "10.0.0.11", None)],
            api: ApiSpec::default(),
            network: NetworkSpec::default(),
            overrides_yaml: None,
        }
    }

    fn three_controllers() -> ClusterSpec {
        ClusterSpec {
            controllers: vec![
                controller("cp1", "10.0.0.11", Some("192.168.0.11")),
                controller("cp2", "10.0.0.12", Some("192.168.0.12")),
                controller("cp3", "10.0.0.13", None),
            ],
            api: ApiSpec {
                external_address: None,
                sans: vec!["10.0.0.100".to_owned(), "10.0.0.11".to_owned()],
            },
            ..one_controller()
        }
    }

    fn with_overrides(overrides: &str) -> ClusterSpec {
        ClusterSpec {
            overrides_yaml: Some(overrides.to_owned()),
            ..one_controller()
        }
    }

    const ONE_CONTROLLER: &str = "\
apiVersion: k0s.k0sproject.io/v1beta1
kind: ClusterConfig
metadata:
  name: demo
spec:
  api:
    sans:
    - 10.0.0.11
  network:
    calico:
      mode: vxlan
      mtu: 0
      vxlanPort: 4789
      vxlanVNI: 4096
      wireguard: false
    clusterDomain: cluster.local
    kubeProxy:
      mode: iptables
    podCIDR: 10.244.0.0/16
    provider: calico
    serviceCIDR: 10.96.0.0/12
";

    #[test]
    fn renders_the_mke4_defaults_for_one_controller() {
        let rendered = render_cluster_config(&one_controller()).unwrap();
        assert_eq!(rendered, ONE_CONTROLLER);
        validate_strict(&rendered).unwrap();
    }

    #[test]
    fn renders_three_controllers_with_node_local_load_balancing() {
        let rendered = render_cluster_config(&three_controllers()).unwrap();
        assert_eq!(
            rendered,
            "\
apiVersion: k0s.k0sproject.io/v1beta1
kind: ClusterConfig
metadata:
  name: demo
spec:
  api:
    sans:
    - 10.0.0.11
    - 192.168.0.11
    - 10.0.0.12
    - 192.168.0.12
    - 10.0.0.13
    - 10.0.0.100
  network:
    calico:
      mode: vxlan
      mtu: 0
      vxlanPort: 4789
      vxlanVNI: 4096
      wireguard: false
    clusterDomain: cluster.local
    kubeProxy:
      mode: iptables
    nodeLocalLoadBalancing:
      enabled: true
      type: EnvoyProxy
    podCIDR: 10.244.0.0/16
    provider: calico
    serviceCIDR: 10.96.0.0/12
"
        );
        validate_strict(&rendered).unwrap();
    }

    #[test]
    fn an_external_address_replaces_node_local_load_balancing_and_joins_the_sans() {
        let mut spec = three_controllers();
        spec.api.external_address = Some("k8s.example.com".to_owned());
        spec.network.kube_proxy_mode = KubeProxyMode::Ipvs;
        spec.network.calico.mode = CalicoMode::Ipip;
        let rendered = render_cluster_config(&spec).unwrap();
        let document = yaml::parse(&rendered).unwrap();
        assert_eq!(
            document["spec"]["api"]["externalAddress"],
            Value::from("k8s.example.com")
        );
        assert_eq!(
            document["spec"]["api"]["sans"][5],
            Value::from("k8s.example.com")
        );
        assert_eq!(
            document["spec"]["api"]["sans"][6],
            Value::from("10.0.0.100")
        );
        assert!(document["spec"]["network"]
            .get("nodeLocalLoadBalancing")
            .is_none());
        assert_eq!(
            document["spec"]["network"]["kubeProxy"]["mode"],
            Value::from("ipvs")
        );
        assert_eq!(
            document["spec"]["network"]["calico"]["mode"],
            Value::from("ipip")
        );
        validate_strict(&rendered).unwrap();
    }

    #[test]
    fn rendering_is_stable_whatever_the_override_key_order() {
        let a = render_cluster_config(&with_overrides(
            "spec: {telemetry: {enabled: false}, network: {calico: {mtu: 1400}}}",
        ))
        .unwrap();
        let b = render_cluster_config(&with_overrides(
            "spec:\n  network:\n    calico:\n      mtu: 1400\n  telemetry:\n    enabled: false\n",
        ))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            render_cluster_config(&with_overrides(
                "spec: {telemetry: {enabled: false}, network: {calico: {mtu: 1400}}}"
            ))
            .unwrap(),
            a
        );
    }

    #[test]
    fn overrides_merge_maps_replace_lists_and_delete_on_null() {
        let rendered = render_cluster_config(&with_overrides(
            "spec:\n  api:\n    sans: [only.example.com]\n  network:\n    calico:\n      mtu: 1400\n      wireguard: null\n    kubeProxy: {iptables: {syncPeriod: 30s, ghost: null}}\n  telemetry: {enabled: false}\n",
        ))
        .unwrap();
        let document = yaml::parse(&rendered).unwrap();
        let calico = &document["spec"]["network"]["calico"];
        assert_eq!(calico["mtu"], Value::from(1400));
        assert_eq!(calico["vxlanVNI"], Value::from(4096), "untouched keys stay");
        assert!(calico.get("wireguard").is_none(), "null deletes");
        assert_eq!(
            document["spec"]["api"]["sans"],
            yaml::parse("[only.example.com]").unwrap(),
            "lists replace"
        );
        assert_eq!(
            document["spec"]["network"]["kubeProxy"]["mode"],
            Value::from("iptables")
        );
        assert_eq!(
            document["spec"]["network"]["kubeProxy"]["iptables"],
            yaml::parse("{syncPeriod: 30s}").unwrap(),
            "nulls inside new maps vanish"
        );
        assert_eq!(document["spec"]["telemetry"]["enabled"], Value::from(false));
        validate_strict(&rendered).unwrap();
    }

    #[test]
    fn empty_overrides_change_nothing() {
        for empty in ["{}", "", "# nothing\n", "null"] {
            assert_eq!(
                render_cluster_config(&with_overrides(empty)).unwrap(),
                ONE_CONTROLLER,
                "{empty:?}"
            );
        }
    }

    #[test]
    fn yaml_11_lookalike_strings_are_quoted_for_k0s() {
        let rendered = render_cluster_config(&with_overrides(
            "spec: {api: {extraArgs: {anonymous-auth: \"no\", v: \"4\"}}}",
        ))
        .unwrap();
        assert!(
            rendered.contains("      anonymous-auth: \"no\"\n      v: \"4\"\n"),
            "{rendered}"
        );
        validate_strict(&rendered).unwrap();
    }

    #[test]
    fn forbidden_overrides_name_the_key() {
        let cases = [
            ("spec: {api: {port: 7443}}", "spec.api.port"),
            ("spec: {api: {address: 10.0.0.1}}", "spec.api.address"),
            (
                "spec: {network: {provider: kuberouter}}",
                "spec.network.provider",
            ),
            (
                "spec: {storage: {etcd: {peerAddress: 10.0.0.1}}}",
                "spec.storage.etcd.peerAddress",
            ),
            ("spec: {network: {provider: null}}", "spec.network.provider"),
            ("spec: {network: null}", "spec.network"),
            ("spec: null", "spec"),
            ("spec: {storage: {etcd: []}}", "spec.storage.etcd"),
            ("kind: Pod", "kind"),
        ];
        for (overrides, path) in cases {
            let error = check_overrides(overrides).unwrap_err();
            assert_eq!(error.path(), Some(path), "{overrides}");
            assert!(
                error.to_string().starts_with(&format!(
                    "{path}: k0s_config_overrides may not set this key"
                )),
                "{error}"
            );
            assert_eq!(
                render_cluster_config(&with_overrides(overrides)).unwrap_err(),
                error
            );
        }
    }

    #[test]
    fn allowed_overrides_pass_the_check() {
        for overrides in [
            "spec: {api: {extraArgs: {a: b}, k0sApiPort: 9443}}",
            "spec: {storage: {etcd: {extraArgs: {quota-backend-bytes: '8589934592'}}}}",
            "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\n",
            "metadata: {name: other}",
        ] {
            check_overrides(overrides).unwrap();
        }
    }

    #[test]
    fn invalid_or_non_mapping_overrides_are_errors() {
        assert!(matches!(
            check_overrides("spec: [unclosed"),
            Err(ConfigError::InvalidYaml { .. })
        ));
        assert!(matches!(
            check_overrides("a: 1\na: 2\n"),
            Err(ConfigError::InvalidYaml { .. })
        ));
        let error = check_overrides("- spec").unwrap_err();
        assert_eq!(
            error.to_string(),
            "(top level): expected a mapping, found a list"
        );
        assert_eq!(
            check_overrides("x: !secret y").unwrap_err().to_string(),
            "x: YAML tags are not supported"
        );
    }

    #[test]
    fn host_config_adds_private_address_and_strip_removes_exactly_that() {
        let cluster = render_cluster_config(&three_controllers()).unwrap();
        let host = host_config(&cluster, Some("192.168.0.11")).unwrap();
        let document = yaml::parse(&host).unwrap();
        assert_eq!(
            document["spec"]["api"]["address"],
            Value::from("192.168.0.11")
        );
        assert_eq!(
            document["spec"]["storage"],
            yaml::parse("{type: etcd, etcd: {peerAddress: 192.168.0.11}}").unwrap()
        );
        validate_strict(&host).unwrap();
        assert_eq!(strip_host_keys(&host).unwrap(), cluster);
        assert_eq!(host_config(&cluster, None).unwrap(), cluster);
        assert_eq!(strip_host_keys(&cluster).unwrap(), cluster);
    }

    #[test]
    fn host_config_keeps_an_overridden_storage_block() {
        for storage in [
            "{storage: {etcd: {extraArgs: {heartbeat-interval: '200'}}}}",
            "{storage: {type: etcd}}",
            "{storage: {type: etcd, etcd: {}}}",
            "{storage: {type: kine, kine: {dataSource: 'mysql://db'}}}",
        ] {
            let cluster =
                render_cluster_config(&with_overrides(&format!("spec: {storage}"))).unwrap();
            let host = host_config(&cluster, Some("10.0.0.11")).unwrap();
            assert_eq!(
                yaml::parse(&host).unwrap()["spec"]["storage"]["etcd"]["peerAddress"],
                Value::from("10.0.0.11")
            );
            assert_eq!(strip_host_keys(&host).unwrap(), cluster, "{storage}");
        }
    }

    #[test]
    fn host_config_refuses_a_name_as_private_address() {
        let error = host_config(ONE_CONTROLLER, Some("cp1.internal")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.api.address: \"cp1.internal\" is not an IP address"
        );
    }

    #[test]
    fn configs_equal_ignores_formatting_but_not_values() {
        let reordered = "kind: ClusterConfig\napiVersion: k0s.k0sproject.io/v1beta1\nmetadata: {name: demo}\nspec:\n  network: {provider: calico, podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12, clusterDomain: cluster.local, kubeProxy: {mode: iptables}, calico: {mode: vxlan, vxlanPort: 4789, vxlanVNI: 4096, mtu: 0, wireguard: false}}\n  api: {sans: [10.0.0.11]}\n";
        assert!(configs_equal(ONE_CONTROLLER, reordered));
        assert!(!configs_equal(
            ONE_CONTROLLER,
            &reordered.replace("mtu: 0", "mtu: 1450")
        ));
        assert!(!configs_equal(ONE_CONTROLLER, "{unclosed"));
    }

    #[test]
    fn strict_validation_accepts_what_users_set() {
        let overrides = r#"
metadata:
  name: demo
  labels: {team: platform}
spec:
  api:
    extraArgs: {service-node-port-range: "30000-32767"}
    k0sApiPort: 9443
    sans: [k8s.example.com, 10.0.0.100]
  controllerManager: {extraArgs: {node-monitor-period: 5s}}
  scheduler: {extraArgs: {v: "2"}}
  storage:
    etcd:
      extraArgs: {quota-backend-bytes: "8589934592"}
  network:
    calico:
      mtu: 1400
      envVars: {FELIX_LOGSEVERITYSCREEN: info}
      ipAutodetectionMethod: interface=eth1
      overlay: CrossSubnet
    kubeProxy:
      iptables: {masqueradeAll: true, syncPeriod: 30s, minSyncPeriod: 1s}
      ipvs: {scheduler: rr, strictARP: true, excludeCIDRs: [10.0.0.0/8], tcpTimeout: 15m}
      nodePortAddresses: [10.0.0.0/8]
      metricsBindAddress: 0.0.0.0:10249
    nodeLocalLoadBalancing:
      envoyProxy: {apiServerBindPort: 7443, konnectivityServerBindPort: 7132, image: {image: quay.io/k0sproject/envoy-distroless, version: v1.29.0}, imagePullPolicy: IfNotPresent}
  images:
    repository: registry.example.com
    default_pull_policy: Always
    calico: {cni: {image: calico/cni, version: v3.27.2}, node: {image: calico/node, version: v3.27.2}, kubecontrollers: {image: calico/kube-controllers, version: v3.27.2}}
    coredns: {image: coredns/coredns, version: "1.11.1"}
    pause: {version: "3.9"}
  extensions:
    helm:
      concurrencyLevel: 5
      repositories: [{name: stable, url: https://charts.example.com, insecure: false}]
      charts:
      - name: prometheus
        chartname: stable/prometheus
        version: "25.0.0"
        namespace: monitoring
        order: 1
        timeout: 600000000000
        values: |
          server:
            retention: 7d
    storage: {type: openebs_local_storage, create_default_storage_class: true}
  installConfig: {users: {etcdUser: etcd, kubeAPIserverUser: kube-apiserver}}
  konnectivity: {adminPort: 8133, agentPort: 8132}
  telemetry: {enabled: false}
  featureGates:
  - name: SidecarContainers
    enabled: true
    components: [kubelet, kube-apiserver]
  workerProfiles:
  - name: big-pods
    values: {maxPods: 250, kubeReserved: {cpu: 500m}}
"#;
        let rendered = render_cluster_config(&with_overrides(overrides)).unwrap();
        validate_strict(&rendered).unwrap();
        validate_strict(&host_config(&rendered, Some("10.0.0.11")).unwrap()).unwrap();
    }

    #[test]
    fn strict_validation_rejects_unknown_keys_with_their_path() {
        let cases = [
            ("spec: {network: {calico: {bogus: 1}}}", "spec.network.calico.bogus: unknown field \"bogus\", k0s v1.29.3 does not accept it"),
            ("spec: {network: {podCidr: 10.0.0.0/16}}", "spec.network.podCidr: unknown field \"podCidr\", k0s v1.29.3 does not accept it; did you mean \"podCIDR\"?"),
            ("spec: {telemetry: {enabled: false, interval: 10m}}", "spec.telemetry.interval: unknown field \"interval\", k0s v1.29.3 does not accept it"),
            ("spec: {workerProfiles: [{name: a, values: {}, extra: 1}]}", "spec.workerProfiles[0].extra: unknown field \"extra\", k0s v1.29.3 does not accept it"),
            ("spec: {podSecurityPolicy: {defaultPolicy: x}}", "spec.podSecurityPolicy: unknown field \"podSecurityPolicy\", k0s v1.29.3 does not accept it"),
            ("status: {ready: true}", "status.ready: unknown field \"ready\", k0s v1.29.3 does not accept it"),
        ];
        for (config, message) in cases {
            assert_eq!(validate_strict(config).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn strict_validation_checks_types_and_values() {
        let cases = [
            ("spec: {network: {calico: {mtu: \"1400\"}}}", "spec.network.calico.mtu: expected an integer, found the string \"1400\""),
            ("spec: {network: {calico: {wireguard: \"yes\"}}}", "spec.network.calico.wireguard: expected true or false, found the string \"yes\""),
            ("spec: {api: {sans: 10.0.0.1}}", "spec.api.sans: expected a list of strings, found the string \"10.0.0.1\""),
            ("spec: {network: {calico: {mode: vxlan2}}}", "spec.network.calico.mode: unsupported value \"vxlan2\"; expected one of: vxlan, ipip, bird"),
            ("spec: {network: {kubeProxy: {iptables: {syncPeriod: soon}}}}", "spec.network.kubeProxy.iptables.syncPeriod: invalid duration \"soon\": expected a number followed by a unit (ns, us, ms, s, m, h), like 30s or 1h30m"),
            ("spec: {api: {externalAddress: lb.example.com}, network: {nodeLocalLoadBalancing: {enabled: true}}}", "spec.network.nodeLocalLoadBalancing.enabled: node-local load balancing cannot be used in conjunction with an external Kubernetes API server address"),
            ("spec: {network: {provider: calico, dualStack: {enabled: true}}}", "spec.network.calico.mode: dual stack for calico is only supported for mode `bird`"),
            ("spec: {workerProfiles: [{name: a, values: {clusterDNS: 10.0.0.10}}]}", "spec.workerProfiles[0].values.clusterDNS: field `clusterDNS` is prohibited to override in worker profile"),
            ("spec: {workerProfiles: [{name: a}]}", "spec.workerProfiles[0].values: expected a mapping of kubelet settings, found null"),
            ("spec: {api: {sans: [\"not a name\"]}}", "spec.api.sans[0]: \"not a name\" is neither an IP address nor a DNS name"),
            ("spec: {extensions: {helm: {charts: [{name: x, timeout: 10m}]}}}", "spec.extensions.helm.charts[0].timeout: expected an integer, found the string \"10m\""),
        ];
        for (config, message) in cases {
            assert_eq!(
                validate_strict(config).unwrap_err().to_string(),
                message,
                "{config}"
            );
        }
    }

    #[test]
    fn free_form_sections_accept_anything_and_null_is_a_zero_value() {
        validate_strict("spec: {workerProfiles: [{name: a, values: {featureGates: {X: true}, anything: [1, {b: c}]}}]}").unwrap();
        validate_strict("metadata: {managedFields: [{manager: k0s}]}\nspec: {network: {calico: null}, api: {sans: null}}").unwrap();
        validate_strict("").unwrap();
    }
}

/// What a ClusterConfig on a host says about the settings `mke_cluster`
/// manages; import uses it to fill the state it cannot ask the user for.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSettings {
    pub name: Option<String>,
    pub network: crate::model::NetworkSpec,
    pub api: crate::model::ApiSpec,
}

pub fn observed_settings(yaml: &str) -> Result<ObservedSettings, ConfigError> {
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::InvalidYaml {
            message: e.to_string(),
        })?;
    let text = |v: &serde_yaml_ng::Value| v.as_str().map(str::to_string);
    let spec = &document["spec"];
    let net = &spec["network"];
    let calico = &net["calico"];
    let defaults = crate::model::NetworkSpec::default();
    let number = |v: &serde_yaml_ng::Value| v.as_u64();
    let network = crate::model::NetworkSpec {
        pod_cidr: text(&net["podCIDR"]).unwrap_or(defaults.pod_cidr.clone()),
        service_cidr: text(&net["serviceCIDR"]).unwrap_or(defaults.service_cidr.clone()),
        cluster_domain: text(&net["clusterDomain"]).unwrap_or(defaults.cluster_domain.clone()),
        kube_proxy_mode: text(&net["kubeProxy"]["mode"])
            .and_then(|m| m.parse().ok())
            .unwrap_or(defaults.kube_proxy_mode),
        calico: crate::model::CalicoSpec {
            mode: text(&calico["mode"])
                .and_then(|m| m.parse().ok())
                .unwrap_or(defaults.calico.mode),
            vxlan_port: number(&calico["vxlanPort"])
                .map(|n| n as u16)
                .unwrap_or(defaults.calico.vxlan_port),
            vxlan_vni: number(&calico["vxlanVNI"])
                .map(|n| n as u32)
                .unwrap_or(defaults.calico.vxlan_vni),
            mtu: number(&calico["mtu"])
                .map(|n| n as u32)
                .unwrap_or(defaults.calico.mtu),
            wireguard: calico["wireguard"]
                .as_bool()
                .unwrap_or(defaults.calico.wireguard),
        },
    };
    let api = crate::model::ApiSpec {
        external_address: text(&spec["api"]["externalAddress"]).filter(|s| !s.is_empty()),
        sans: Vec::new(),
    };
    Ok(ObservedSettings {
        name: text(&document["metadata"]["name"]),
        network,
        api,
    })
}

/// The `spec.api.address` a host's k0s.yaml carries (what `host_config` adds
/// for a controller's `private_address`).
pub fn observed_private_address(host_yaml: &str) -> Result<Option<String>, ConfigError> {
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(host_yaml).map_err(|e| ConfigError::InvalidYaml {
            message: e.to_string(),
        })?;
    Ok(document["spec"]["api"]["address"]
        .as_str()
        .map(str::to_string))
}
