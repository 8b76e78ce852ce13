//! Kubernetes knowledge beyond k0s itself: the objects behind a kubeconfig token and the kubectl
//! calls around them, the kubeconfig a token goes into, RFC 3339 timestamps, and the node list.
//! Like the rest of the crate, it builds text and parses output; the provider runs the calls.

pub(crate) mod time;
mod token;

pub use crate::node::parse_node_list;
pub use time::{parse_rfc3339, rfc3339};
pub use token::{
    access_manifest, apply_lost_race, binding_name, close_found_k0s_gone, close_script,
    create_from_stdin_command, create_token_command, delete_secrets_command, ensure_access_script,
    expired_secrets, is_token, jwt_expiry, list_managed_secrets_script, secret_manifest,
    secret_name, SecretListError, DURATION_ANNOTATION, EXPIRES_ANNOTATION, MANAGED_BY_KEY,
    MANAGED_BY_VALUE, SECRET_PREFIX, SERVICE_ACCOUNT_ANNOTATION, TOKEN_NAMESPACE,
};

/// A kubeconfig that authenticates with a bearer `token`, one cluster (`mke`) and one context
/// (`<user>@mke`, namespace `default`). Strings are written as JSON strings, which YAML reads as
/// double-quoted scalars, so no value can break the document.
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    use base64::Engine as _;
    let q = |s: &str| serde_json::to_string(s).expect("JSON string");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let context = q(&format!("{user}@mke"));
    let user = q(user);
    [
        "apiVersion: v1".to_string(),
        "kind: Config".to_string(),
        "clusters:".to_string(),
        "- name: mke".to_string(),
        "  cluster:".to_string(),
        format!("    server: {}", q(server)),
        format!("    certificate-authority-data: {}", q(&ca)),
        "contexts:".to_string(),
        format!("- name: {context}"),
        "  context:".to_string(),
        "    cluster: mke".to_string(),
        format!("    user: {user}"),
        "    namespace: default".to_string(),
        format!("current-context: {context}"),
        "users:".to_string(),
        format!("- name: {user}"),
        "  user:".to_string(),
        format!("    token: {}", q(token)),
        "preferences: {}".to_string(),
        String::new(),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_reads_back_with_token_auth() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let yaml = kubeconfig_yaml("https://192.0.2.11:6443", pem, "mke-terraform", "eyJ.a.b");
        let k = crate::parse_kubeconfig(&yaml).unwrap();
        assert_eq!(k.server, "https://192.0.2.11:6443");
        assert_eq!(k.ca_certificate, pem);
        assert_eq!(k.user, "mke-terraform");
        assert_eq!(k.token(), Some("eyJ.a.b"));
    }

    #[test]
    fn quotes_and_colons_in_names_do_not_break_the_document() {
        let yaml = kubeconfig_yaml("https://k8s.example:6443", "pem", "a\": b", "t");
        let k = crate::parse_kubeconfig(&yaml).unwrap();
        assert_eq!(k.user, "a\": b");
        assert_eq!(k.token(), Some("t"));
    }
}
