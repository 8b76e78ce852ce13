//! The cluster API of a controller on a test host: through `k0s kubectl` on
//! the host, or over HTTPS from the test process (the bed routes to its hosts).

#![allow(dead_code)]

use std::process::Command;

use serde_json::Value as Json;

use super::standin::K0S;
use super::testbed::TestHost;

/// `k0s kubectl <args> -o json` on `host`.
pub fn kubectl_json(host: &TestHost, args: &str) -> Json {
    let text = host.exec_ok(&format!("{K0S} kubectl {args} -o json"));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("kubectl {args} on {}: {e}\n{text}", host.name))
}

/// The `items` of a `kubectl get` list.
pub fn kubectl_items(host: &TestHost, args: &str) -> Vec<Json> {
    kubectl_json(host, args)["items"]
        .as_array()
        .unwrap_or_else(|| panic!("kubectl {args} on {}: not a list", host.name))
        .clone()
}

/// The HTTP status the API at `endpoint` answers a GET of the kube-system
/// namespace with, when asked with `token` and trusting `ca_pem`.
pub fn api_status(endpoint: &str, ca_pem: &str, token: &str) -> u16 {
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), ca_pem).unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .arg("--cacert")
        .arg(ca.path())
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{endpoint}/api/v1/namespaces/kube-system"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl: {}", String::from_utf8_lossy(&out.stderr)))
}
