//! The keys and value shapes k0s v1.29.3 accepts in a ClusterConfig, and the cross-field rules of
//! its validator: [`validate_strict`] rejects what k0s would reject, before the config reaches a host.

use super::{describe, parse_mapping, ConfigError};
use crate::cli::parse_duration;
use crate::yaml::{self, KeyPath};
use serde_yaml_ng::Value;
use std::net::IpAddr;

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

/// The checks k0s applies to `api.sans` and `api.externalAddress`.
pub fn is_ip_or_dns_name(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok() || is_dns_name(text)
}

/// A DNS name in the sense of k0s's validator: dot-separated labels of letters, digits, `-` and
/// `_`, no label starting or ending with `-`, at most 255 characters, one trailing dot allowed.
pub fn is_dns_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() || name.len() > 255 || name.parse::<IpAddr>().is_ok() {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns_name("k8s.example.com"));
        assert!(is_dns_name("cluster.local."));
        assert!(!is_dns_name("-bad.example.com"));
        assert!(!is_dns_name("10.0.0.1"));
        assert!(is_ip_or_dns_name("10.0.0.1"));
        assert!(is_ip_or_dns_name("fd00::1"));
        assert!(!is_ip_or_dns_name("http://x"));
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
