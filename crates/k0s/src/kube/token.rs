//! Service account tokens bound to a Secret: the service account and its ClusterRoleBinding, the
//! labelled Secret a token is bound to, the kubectl calls around them, and the reading of what
//! those calls print. Deleting the Secret makes the API server reject the token at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::time::{parse_rfc3339, rfc3339};
use crate::cli::{go_duration, kubectl, parse_duration, K0S_BINARY_PATH, K0S_DATA_DIR};
use mke_shell::shell_quote;

/// Where the service accounts and their token Secrets live.
pub const TOKEN_NAMESPACE: &str = "kube-system";
/// The label every object made here carries, so that a later run finds them.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "terraform-provider-mke";
/// The Secret's token duration, as a Go duration: with `creationTimestamp` it tells when the
/// token ends.
pub const DURATION_ANNOTATION: &str = "terraform-provider-mke/token-duration";
/// The Secret's planned token expiry, RFC 3339, for people reading the Secret.
pub const EXPIRES_ANNOTATION: &str = "terraform-provider-mke/token-expires-at";
pub const SERVICE_ACCOUNT_ANNOTATION: &str = "terraform-provider-mke/service-account";
/// Every token Secret's name starts so; see [`secret_name`].
pub const SECRET_PREFIX: &str = "mke-kubeconfig-";
/// What [`close_script`] prints when k0s is gone from the host.
const K0S_GONE: &str = "mke:k0s-gone";

/// The ClusterRoleBinding of a service account.
pub fn binding_name(service_account: &str) -> String {
    format!("{MANAGED_BY_VALUE}:{service_account}")
}

fn managed_labels() -> serde_json::Value {
    serde_json::json!({ MANAGED_BY_KEY: MANAGED_BY_VALUE })
}

/// The service account and its binding, as one `List` for `kubectl apply -f -`.
pub fn access_manifest(service_account: &str, cluster_role: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": service_account,
                    "namespace": TOKEN_NAMESPACE,
                    "labels": managed_labels(),
                },
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {
                    "name": binding_name(service_account),
                    "labels": managed_labels(),
                },
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": cluster_role,
                },
                "subjects": [{
                    "kind": "ServiceAccount",
                    "name": service_account,
                    "namespace": TOKEN_NAMESPACE,
                }],
            },
        ],
    })
    .to_string()
}

/// Applies [`access_manifest`] (on stdin). Deletes a binding to another role first: `roleRef` is
/// immutable, and keeping the old binding would leave the account its old rights.
pub fn ensure_access_script(service_account: &str, cluster_role: &str) -> String {
    let binding = binding_name(service_account);
    let get = kubectl([
        "get",
        "clusterrolebinding",
        &binding,
        "-o",
        "jsonpath={.roleRef.name}",
        "--ignore-not-found",
    ]);
    let delete = kubectl(["delete", "clusterrolebinding", &binding]);
    let apply = kubectl(["apply", "-f", "-"]);
    format!(
        "set -e\ncurrent=$({get} </dev/null)\n\
         if [ -n \"$current\" ] && [ \"$current\" != {role} ]; then {delete} </dev/null; fi\n\
         {apply}",
        role = shell_quote(cluster_role),
    )
}

/// What `kubectl apply` reports when another client created or changed the object between its
/// read and its write: whoever won made the progress, so trying again finds the object there.
pub fn apply_lost_race(stderr: &str) -> bool {
    stderr.contains("(AlreadyExists)")
        || stderr.contains("(Conflict)")
        || stderr.contains("the object has been modified")
}

/// Prints the host's clock (Unix seconds), then the managed Secrets as JSON, for
/// [`expired_secrets`].
pub fn list_managed_secrets_script() -> String {
    format!(
        "date -u +%s && {}",
        kubectl([
            "get",
            "secrets",
            "-n",
            TOKEN_NAMESPACE,
            "-l",
            &format!("{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"),
            "-o",
            "json",
        ])
    )
}

/// Deletes the named Secrets; a Secret already gone is fine.
pub fn delete_secrets_command(names: &[String]) -> String {
    let mut args: Vec<String> = vec!["delete".into(), "secret".into()];
    args.extend(names.iter().cloned());
    args.extend([
        "-n".into(),
        TOKEN_NAMESPACE.into(),
        "--ignore-not-found".into(),
    ]);
    kubectl(args)
}

/// Deletes the Secret; when k0s is no longer on the host (a destroyed cluster takes the Secret
/// with it) prints a marker that [`close_found_k0s_gone`] recognises and succeeds.
pub fn close_script(secret: &str) -> String {
    format!(
        "if [ ! -x {K0S_BINARY_PATH} ] || [ ! -d {K0S_DATA_DIR} ]; then echo {K0S_GONE}; exit 0; fi\n{delete}",
        delete = delete_secrets_command(&[secret.to_string()]),
    )
}

/// Whether [`close_script`] found k0s gone from the host, from its stdout.
pub fn close_found_k0s_gone(stdout: &str) -> bool {
    stdout.trim() == K0S_GONE
}

/// The Secret a token is bound to: labelled as managed, annotated with the service account, the
/// token's duration and its planned expiry.
pub fn secret_manifest(
    name: &str,
    service_account: &str,
    duration: Duration,
    expires_at: SystemTime,
) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": TOKEN_NAMESPACE,
            "labels": managed_labels(),
            "annotations": {
                SERVICE_ACCOUNT_ANNOTATION: service_account,
                DURATION_ANNOTATION: go_duration(duration),
                EXPIRES_ANNOTATION: rfc3339(expires_at),
            },
        },
    })
    .to_string()
}

/// `kubectl create -f -`: creates the object given on stdin (the [`secret_manifest`]), failing if
/// it exists.
pub fn create_from_stdin_command() -> String {
    kubectl(["create", "-f", "-"])
}

/// A Secret name from 48 bits of `entropy`: the prefix and 12 lowercase hex digits, a valid
/// Kubernetes object name.
pub fn secret_name(entropy: u64) -> String {
    format!("{SECRET_PREFIX}{:012x}", entropy & 0xffff_ffff_ffff)
}

/// `kubectl create token`, bound to the Secret so that deleting the Secret revokes the token.
/// The token is printed on stdout; see [`is_token`].
pub fn create_token_command(service_account: &str, secret: &str, duration: Duration) -> String {
    kubectl([
        "create".to_string(),
        "token".to_string(),
        service_account.to_string(),
        "-n".to_string(),
        TOKEN_NAMESPACE.to_string(),
        "--bound-object-kind=Secret".to_string(),
        format!("--bound-object-name={secret}"),
        format!("--duration={}", go_duration(duration)),
    ])
}

/// One line of printable characters without spaces: what `kubectl create token` prints.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_graphic())
}

/// `kubectl get secrets -o json` printed something other than a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretListError {
    #[error("not a JSON list: {message}")]
    NotJson { message: String },
    #[error("the list has no items")]
    NoItems,
}

/// Names of the Secrets in `kubectl get secrets -o json` output whose `creationTimestamp` plus
/// their duration annotation is not after `now_unix` (both on the controller's clock): their
/// tokens have expired. Secrets without a readable duration are left alone.
pub fn expired_secrets(list_json: &str, now_unix: i64) -> Result<Vec<String>, SecretListError> {
    let doc: serde_json::Value =
        serde_json::from_str(list_json).map_err(|e| SecretListError::NotJson {
            message: e.to_string(),
        })?;
    let items = doc["items"].as_array().ok_or(SecretListError::NoItems)?;
    let mut out = Vec::new();
    for item in items {
        let meta = &item["metadata"];
        let (Some(name), Some(created)) = (
            meta["name"].as_str(),
            meta["creationTimestamp"].as_str().and_then(parse_rfc3339),
        ) else {
            continue;
        };
        let Some(duration) = meta["annotations"][DURATION_ANNOTATION]
            .as_str()
            .and_then(|d| parse_duration(d).ok())
        else {
            continue;
        };
        if created.saturating_add(duration.as_secs() as i64) <= now_unix {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// The `exp` claim of a JWT (service account tokens are JWTs), read without checking the
/// signature: only to tell the user when the token ends.
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims["exp"].as_u64()?;
    Some(UNIX_EPOCH + Duration::from_secs(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, created: &str, duration: Option<&str>) -> serde_json::Value {
        let mut meta = serde_json::json!({ "name": name, "creationTimestamp": created });
        if let Some(d) = duration {
            meta["annotations"] = serde_json::json!({ DURATION_ANNOTATION: d });
        }
        serde_json::json!({ "metadata": meta })
    }

    #[test]
    fn only_secrets_past_their_duration_are_expired() {
        let now = parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        let list = serde_json::json!({ "items": [
            secret("old", "2024-05-01T10:00:00Z", Some("1h0m0s")),
            secret("fresh", "2024-05-01T11:30:00Z", Some("1h0m0s")),
            secret("long", "2024-04-30T13:00:00Z", Some("48h0m0s")),
            secret("unknown", "2024-01-01T00:00:00Z", None),
            secret("just-ended", "2024-05-01T11:50:00Z", Some("10m")),
        ]})
        .to_string();
        assert_eq!(
            expired_secrets(&list, now).unwrap(),
            vec!["old", "just-ended"]
        );
        assert!(expired_secrets("No resources found", now)
            .unwrap_err()
            .to_string()
            .starts_with("not a JSON list: "));
        assert_eq!(
            expired_secrets("{}", now).unwrap_err().to_string(),
            "the list has no items"
        );
    }

    #[test]
    fn commands_carry_names_but_no_token() {
        assert_eq!(
            create_token_command("mke-terraform", "mke-kubeconfig-0123456789ab", Duration::from_secs(3600)),
            "/usr/local/bin/k0s kubectl --request-timeout=30s create token mke-terraform -n kube-system \
             --bound-object-kind=Secret --bound-object-name=mke-kubeconfig-0123456789ab --duration=1h0m0s"
        );
        assert_eq!(
            close_script("mke-kubeconfig-0123456789ab").lines().last().unwrap(),
            "/usr/local/bin/k0s kubectl --request-timeout=30s delete secret mke-kubeconfig-0123456789ab \
             -n kube-system --ignore-not-found"
        );
        assert_eq!(
            create_from_stdin_command(),
            "/usr/local/bin/k0s kubectl --request-timeout=30s create -f -"
        );
        let script = ensure_access_script("mke-terraform", "view");
        assert!(script.contains("get clusterrolebinding terraform-provider-mke:mke-terraform -o 'jsonpath={.roleRef.name}' --ignore-not-found"), "{script}");
        assert!(script.contains("!= view ]"), "{script}");
        assert!(script.ends_with("apply -f -"), "{script}");
        assert_eq!(
            list_managed_secrets_script(),
            "date -u +%s && /usr/local/bin/k0s kubectl --request-timeout=30s get secrets -n kube-system \
             -l app.kubernetes.io/managed-by=terraform-provider-mke -o json"
        );
    }

    #[test]
    fn the_close_script_tells_a_host_without_k0s() {
        let script = close_script("s");
        assert!(
            script.starts_with(
                "if [ ! -x /usr/local/bin/k0s ] || [ ! -d /var/lib/k0s ]; then echo mke:k0s-gone; exit 0; fi\n"
            ),
            "{script}"
        );
        assert!(close_found_k0s_gone("mke:k0s-gone\n"));
        assert!(!close_found_k0s_gone("secret \"s\" deleted\n"));
        assert!(!close_found_k0s_gone(""));
    }

    #[test]
    fn the_manifests_bind_the_account_to_the_role() {
        let list: serde_json::Value = serde_json::from_str(&access_manifest("ci", "view")).unwrap();
        let binding = &list["items"][1];
        assert_eq!(binding["roleRef"]["name"], "view");
        assert_eq!(binding["subjects"][0]["name"], "ci");
        assert_eq!(binding["subjects"][0]["namespace"], "kube-system");
        assert_eq!(binding["metadata"]["name"], "terraform-provider-mke:ci");
        let s: serde_json::Value = serde_json::from_str(&secret_manifest(
            "mke-kubeconfig-1",
            "ci",
            Duration::from_secs(600),
            UNIX_EPOCH,
        ))
        .unwrap();
        assert_eq!(s["metadata"]["labels"][MANAGED_BY_KEY], MANAGED_BY_VALUE);
        assert_eq!(s["metadata"]["annotations"][DURATION_ANNOTATION], "10m0s");
        assert_eq!(
            s["metadata"]["annotations"][EXPIRES_ANNOTATION],
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn secret_names_are_kubernetes_names() {
        assert_eq!(secret_name(0), "mke-kubeconfig-000000000000");
        assert_eq!(secret_name(u64::MAX), "mke-kubeconfig-ffffffffffff");
        assert_eq!(secret_name(0xabc), "mke-kubeconfig-000000000abc");
    }

    #[test]
    fn a_lost_apply_race_is_told_from_other_failures() {
        assert!(apply_lost_race(
            "Error from server (AlreadyExists): error when creating \"STDIN\": serviceaccounts \"ci\" already exists"
        ));
        assert!(apply_lost_race(
            "Error from server (Conflict): Operation cannot be fulfilled on clusterrolebindings.rbac.authorization.k8s.io \"terraform-provider-mke:ci\": the object has been modified; please apply your changes to the latest version and try again"
        ));
        assert!(!apply_lost_race(
            "Error from server (Forbidden): serviceaccounts is forbidden"
        ));
    }

    #[test]
    fn a_token_is_one_printable_word() {
        assert!(is_token("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2ln"));
        assert!(!is_token(""));
        assert!(!is_token("error: something went wrong"));
    }

    #[test]
    fn the_expiry_comes_from_the_token() {
        use base64::Engine as _;
        let part = |j: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j);
        let token = format!(
            "{}.{}.sig",
            part(r#"{"alg":"RS256"}"#),
            part(r#"{"exp":1714564800}"#)
        );
        assert_eq!(
            jwt_expiry(&token).map(rfc3339).as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        assert_eq!(jwt_expiry("opaque"), None);
    }
}
