//! What a cluster built by another tool (k0sctl, mkectl) says about itself, for adopting it: the
//! fingerprint of its CA (who owns the hosts until a marker is written), its network provider
//! (MKE 4 is Calico only), and the install flags the provider has no attribute for.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::status::InstalledUnit;

/// Where k0s keeps the cluster CA, on controllers and (since k0s writes the join token's CA
/// there when a worker bootstraps) on workers alike.
pub const CA_CERT_PATH: &str = "/var/lib/k0s/pki/ca.crt";

/// The kubeconfig a worker's kubelet uses; its `server` is the worker's join address.
pub const KUBELET_KUBECONFIG_PATH: &str = "/var/lib/k0s/kubelet.conf";

/// The SHA-256 of the first certificate in a PEM file, over its DER bytes, as lowercase hex:
/// the same for a CA whatever line endings or trailing text the file has.
pub fn ca_fingerprint(pem: &str) -> Option<String> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN CERTIFICATE-----")
        .skip(1)
        .take_while(|l| *l != "-----END CERTIFICATE-----")
        .collect();
    if body.is_empty() {
        return None;
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .ok()?;
    Some(
        Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// `spec.network.provider` of a ClusterConfig; k0s's own default, `kuberouter`, when the file
/// does not say.
pub fn network_provider(yaml: &str) -> Result<String, crate::ConfigError> {
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| crate::ConfigError::InvalidYaml {
            message: e.to_string(),
        })?;
    Ok(document["spec"]["network"]["provider"]
        .as_str()
        .filter(|p| !p.is_empty())
        .unwrap_or("kuberouter")
        .to_owned())
}

/// The `server:` of a kubeconfig, without parsing the rest (a kubelet's has no user the
/// provider needs).
pub fn kubeconfig_server(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("server:"))
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
}

/// The flags of an installed unit that no attribute of the provider expresses, as written
/// (`--name=value`): a reinstall by the provider drops them. A controller's `--config`,
/// `--enable-worker`, `--no-taints` and `--token-file`, a worker's `--token-file`, `--labels`,
/// `--taints` and a `--kubelet-extra-args` of only `--node-ip=…` are expressed.
pub fn unexpressed_install_flags(unit: &InstalledUnit) -> Vec<String> {
    let expressed: &[&str] = match unit.role {
        crate::Role::Controller => &["config", "enable-worker", "no-taints", "token-file"],
        crate::Role::Worker => &["token-file", "labels", "taints"],
    };
    let mut out = Vec::new();
    for arg in &unit.args {
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
        if expressed.contains(&name) {
            continue;
        }
        if name == "kubelet-extra-args" && unit.role == crate::Role::Worker {
            let only_node_ip =
                value.split_whitespace().count() == 1 && value.trim().starts_with("--node-ip=");
            if only_node_ip {
                continue;
            }
        }
        out.push(arg.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_ca_fingerprint_is_over_the_der_bytes() {
        // sha256 of the bytes 00 01 02 03.
        let expected = "054edec1d0211f624fed0cbca9d4f9400b0e491c43742af2c5b0abebf0c990d8";
        assert_eq!(ca_fingerprint(PEM).as_deref(), Some(expected));
        assert_eq!(
            ca_fingerprint(&PEM.replace('\n', "\r\n")).as_deref(),
            Some(expected)
        );
        assert_eq!(ca_fingerprint("not a certificate"), None);
    }

    #[test]
    fn a_config_without_provider_runs_kube_router() {
        assert_eq!(network_provider("spec: {}\n").unwrap(), "kuberouter");
        assert_eq!(
            network_provider("spec:\n  network:\n    provider: calico\n").unwrap(),
            "calico"
        );
    }

    #[test]
    fn the_join_address_is_the_kubeconfig_server() {
        let text = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: k0s\n";
        assert_eq!(
            kubeconfig_server(text).as_deref(),
            Some("https://10.0.0.1:6443")
        );
    }

    #[test]
    fn flags_without_attribute_are_named() {
        let worker = crate::parse_unit_exec_start(
            "ExecStart=/usr/local/bin/k0s worker --token-file=/etc/k0s/k0stoken --labels=a=b \"--kubelet-extra-args=--node-ip=10.0.0.5 --max-pods=50\" --debug=true\n",
        )
        .unwrap();
        assert_eq!(
            unexpressed_install_flags(&worker),
            vec![
                "--kubelet-extra-args=--node-ip=10.0.0.5 --max-pods=50".to_string(),
                "--debug=true".to_string()
            ]
        );
        let node_ip_only = crate::parse_unit_exec_start(
            "ExecStart=/usr/local/bin/k0s worker --kubelet-extra-args=--node-ip=10.0.0.5\n",
        )
        .unwrap();
        assert!(unexpressed_install_flags(&node_ip_only).is_empty());
        let controller = crate::parse_unit_exec_start(
            "ExecStart=/usr/local/bin/k0s controller --config=/etc/k0s/k0s.yaml --enable-worker=true --kubelet-extra-args=--max-pods=50\n",
        )
        .unwrap();
        assert_eq!(
            unexpressed_install_flags(&controller),
            vec!["--kubelet-extra-args=--max-pods=50".to_string()]
        );
    }
}
