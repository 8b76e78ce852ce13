//! The cluster-wide ClusterConfig rendered from a [`ClusterSpec`], the user's overrides deep-merged
//! over it, and the per-host file that adds a controller's private address.

use super::{
    describe, parse_mapping, ConfigError, CLUSTER_CONFIG_API_VERSION, CLUSTER_CONFIG_KIND,
};
use crate::model::ClusterSpec;
use crate::yaml;
use serde_yaml_ng::{Mapping, Value};
use std::net::IpAddr;

/// Keys the overrides may not set: the provider derives them per host or relies on them.
pub const FORBIDDEN_OVERRIDES: &[&[&str]] = &[
    &["spec", "api", "port"],
    &["spec", "api", "address"],
    &["spec", "network", "provider"],
    &["spec", "storage", "etcd", "peerAddress"],
];

/// Keys a running cluster cannot change (pods and services keep their addresses, DNS names and
/// overlay), so the overrides may set them only to the value rendered from the spec.
pub const IMMUTABLE_KEYS: &[&[&str]] = &[
    &["spec", "network", "podCIDR"],
    &["spec", "network", "serviceCIDR"],
    &["spec", "network", "clusterDomain"],
    &["spec", "network", "calico", "mode"],
    &["spec", "network", "calico", "vxlanPort"],
    &["spec", "network", "calico", "vxlanVNI"],
];

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

/// Checks the overrides on their own, before anything is rendered: valid YAML, a mapping at the
/// top, and none of
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

/// Checks that the overrides leave every one of [`IMMUTABLE_KEYS`] as `base_yaml` (the config
/// rendered from the spec, without overrides) has it: setting one to the same value is allowed,
/// changing or deleting it (directly or through a parent) is not. Every such key is reported.
pub fn check_immutable_overrides(
    base_yaml: &str,
    overrides_yaml: &str,
) -> Result<(), Vec<ConfigError>> {
    let base = Value::Mapping(parse_mapping(base_yaml).map_err(|e| vec![e])?);
    let mut merged = base.clone();
    deep_merge(
        &mut merged,
        Value::Mapping(parse_mapping(overrides_yaml).map_err(|e| vec![e])?),
    );
    let errors: Vec<ConfigError> = IMMUTABLE_KEYS
        .iter()
        .filter_map(|path| {
            let rendered = lookup(&base, path);
            let overridden = lookup(&merged, path);
            (rendered != overridden).then(|| ConfigError::ImmutableOverride {
                path: path.join("."),
                rendered: shown(rendered),
                overridden: shown(overridden),
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn lookup<'a>(document: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(document, |value, step| value.as_mapping()?.get(*step))
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None => "nothing (deleted)".to_owned(),
        Some(Value::String(text)) => format!("{text:?}"),
        Some(other) => yaml::emit(other).trim_end().to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_strict;
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
    fn immutable_keys_may_only_be_overridden_with_their_rendered_value() {
        let base = render_cluster_config(&one_controller()).unwrap();
        for same in [
            "spec: {network: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}}",
            "spec: {network: {clusterDomain: cluster.local, calico: {mode: vxlan, vxlanPort: 4789, vxlanVNI: 4096}}}",
            "spec: {network: {calico: {mtu: 1400}, kubeProxy: {mode: ipvs}}}",
            "",
        ] {
            assert_eq!(check_immutable_overrides(&base, same), Ok(()), "{same}");
        }
        let paths = |overrides: &str| -> Vec<String> {
            check_immutable_overrides(&base, overrides)
                .unwrap_err()
                .iter()
                .map(|e| e.path().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            paths("spec: {network: {podCIDR: 10.32.0.0/16}}"),
            ["spec.network.podCIDR"]
        );
        assert_eq!(
            paths("spec: {network: {serviceCIDR: 10.64.0.0/12, clusterDomain: example.local}}"),
            ["spec.network.serviceCIDR", "spec.network.clusterDomain"]
        );
        assert_eq!(
            paths("spec: {network: {calico: {mode: ipip, vxlanPort: 4790, vxlanVNI: 1}}}"),
            [
                "spec.network.calico.mode",
                "spec.network.calico.vxlanPort",
                "spec.network.calico.vxlanVNI"
            ]
        );
        assert_eq!(
            paths("spec: {network: {calico: null}}"),
            [
                "spec.network.calico.mode",
                "spec.network.calico.vxlanPort",
                "spec.network.calico.vxlanVNI"
            ]
        );
        assert_eq!(
            paths("spec: {network: {calico: {vxlanPort: \"4789\"}}}"),
            ["spec.network.calico.vxlanPort"],
            "a string is not the rendered number"
        );
        let errors = check_immutable_overrides(&base, "spec: {network: {podCIDR: 10.32.0.0/16}}")
            .unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "spec.network.podCIDR: the overrides would change it from \"10.244.0.0/16\" to \"10.32.0.0/16\", and it cannot change under a running cluster"
        );
        let errors =
            check_immutable_overrides(&base, "spec: {network: {calico: {vxlanVNI: null}}}")
                .unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "spec.network.calico.vxlanVNI: the overrides would change it from 4096 to nothing (deleted), and it cannot change under a running cluster"
        );
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
}
