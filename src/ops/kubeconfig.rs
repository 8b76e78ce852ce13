//! `mke_kubeconfig` on a controller. Open and Close are short: every step is
//! one `k0s kubectl` call over the shared SSH pool.
//!
//! Open, on the first controller that answers (controllers in key order):
//! 1. ensure access: the service account in `kube-system` and the
//!    ClusterRoleBinding `terraform-provider-mke:<sa>` (`kubectl apply`,
//!    idempotent; a binding to another role is deleted first, since a
//!    binding's roleRef cannot change);
//! 2. clean up: delete managed Secrets older than their duration, left by
//!    runs whose Close never came;
//! 3. read the cluster CA (`/var/lib/k0s/pki/ca.crt`);
//! 4. create a Secret for this run (labelled, annotated with its duration);
//! 5. `kubectl create token <sa> --bound-object-kind=Secret
//!    --bound-object-name=<secret> --duration=<d>`.
//!
//! Close: `kubectl delete secret <name> --ignore-not-found`, which makes
//! the API server reject the token at once.
//!
//! The token exists only in the stdout of step 5 and in the result handed to
//! Terraform: never in a command line, a log line or an error message.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mke_ssh::{Command, Host, Secret};
use serde::{Deserialize, Serialize};

use super::runtime::target;
use super::{Cancel, ControllerHost, OpError, Runtime, Step, Warning};

// Pure Kubernetes knowledge moved to mke-k0s; re-exported under the names callers use.
pub use mke_k0s::cli::kubectl;
pub use mke_k0s::kube::{
    access_manifest, binding_name, close_script, create_token_command, delete_secrets_command,
    ensure_access_script, expired_secrets, jwt_expiry, kubeconfig_yaml,
    list_managed_secrets_script, parse_rfc3339, rfc3339, secret_manifest, DURATION_ANNOTATION,
    EXPIRES_ANNOTATION, MANAGED_BY_KEY, MANAGED_BY_VALUE, SECRET_PREFIX,
    SERVICE_ACCOUNT_ANNOTATION, TOKEN_NAMESPACE as NAMESPACE,
};

const CA_PATH: &str = "/var/lib/k0s/pki/ca.crt";
/// A controller that does not answer within this is skipped for the next:
/// a kubeconfig is asked for from a running cluster, whose hosts answer fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What Open needs, defaults applied.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// In the order to try them.
    pub controllers: Vec<(String, ControllerHost)>,
    pub service_account: String,
    pub cluster_role: String,
    pub duration: Duration,
}

/// A minted token and what goes with it.
#[derive(Debug)]
pub struct Minted {
    pub token: Secret,
    pub ca_certificate: String,
    pub expires_at: SystemTime,
    pub handle: CloseHandle,
}

/// The ephemeral resource's private data: what Close needs to reach a
/// controller again and delete the Secret. No secret inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseHandle {
    pub secret: String,
    pub namespace: String,
    /// RFC 3339, for the messages of a Close that cannot delete the Secret.
    pub expires_at: String,
    /// The controller Open used first, then the others.
    pub controllers: Vec<Reach>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    pub key: String,
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub host_key: Option<String>,
}

impl Reach {
    fn of(key: &str, c: &ControllerHost) -> Reach {
        Reach {
            key: key.to_string(),
            address: c.address.clone(),
            port: c.port,
            user: c.user.clone(),
            host_key: c.host_key.clone(),
        }
    }

    fn target(&self) -> mke_ssh::Target {
        target(
            &self.address,
            self.port,
            self.user.as_deref(),
            self.host_key.as_deref(),
        )
    }
}

impl CloseHandle {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("close handle JSON")
    }

    pub fn decode(bytes: &[u8]) -> Result<CloseHandle, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error("no controller answered over SSH:\n{}", list(.attempts))]
    NoControllerAnswered { attempts: Vec<(String, OpError)> },
    #[error("controller {key} has no host_key, and mke_kubeconfig connects only to pinned hosts")]
    UnpinnedController { key: String },
}

fn list(attempts: &[(String, OpError)]) -> String {
    attempts
        .iter()
        .map(|(key, e)| format!("- {key}: {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A name no other run picks: the Secret is this run's alone.
pub fn new_secret_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    mke_k0s::kube::secret_name(hasher.finish())
}

fn connect_timeout(rt: &Runtime) -> Duration {
    rt.settings().ssh.timeout.min(CONNECT_TIMEOUT)
}

/// The first controller that answers, with its index in `controllers`.
async fn first_answering(
    rt: &Runtime,
    controllers: &[(String, ControllerHost)],
) -> Result<(usize, Arc<Host>), KubeconfigError> {
    let mut attempts = Vec::new();
    for (index, (key, c)) in controllers.iter().enumerate() {
        if c.host_key.is_none() {
            return Err(KubeconfigError::UnpinnedController { key: key.clone() });
        }
        match rt.connect(&c.target(), connect_timeout(rt)).await {
            Ok(host) => return Ok((index, host)),
            Err(OpError::Ssh(e)) if e.is_unreachable() => {
                tracing::warn!(controller = key.as_str(), error = %e, "controller did not answer; trying the next");
                attempts.push((key.clone(), OpError::Ssh(e)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(KubeconfigError::NoControllerAnswered { attempts })
}

/// Mints a token on the first controller that answers. Warnings (a failed
/// clean-up of old Secrets) come back next to the result.
pub async fn open(
    rt: &Runtime,
    cancel: &Cancel,
    request: &TokenRequest,
) -> Result<(Minted, Vec<Warning>), KubeconfigError> {
    let work = async {
        let (index, host) = first_answering(rt, &request.controllers).await?;
        let mut order = vec![Reach::of(
            &request.controllers[index].0,
            &request.controllers[index].1,
        )];
        order.extend(
            request
                .controllers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, (k, c))| Reach::of(k, c)),
        );
        mint(&host, request, order).await
    };
    tokio::select! {
        r = work => r,
        _ = cancel.cancelled() => Err(OpError::Cancelled { what: "opening mke_kubeconfig".into() }.into()),
    }
}

async fn mint(
    host: &Host,
    request: &TokenRequest,
    order: Vec<Reach>,
) -> Result<(Minted, Vec<Warning>), KubeconfigError> {
    let sa = &request.service_account;
    let step = Step::start(host.name(), "ensure service account and binding");
    let ensure = Command::new(ensure_access_script(sa, &request.cluster_role))
        .stdin(access_manifest(sa, &request.cluster_role))
        .timeout(COMMAND_TIMEOUT)
        .display(format!(
            "kubectl apply: ServiceAccount {NAMESPACE}/{sa}, ClusterRoleBinding {} to {}",
            binding_name(sa),
            request.cluster_role
        ));
    // Instances opened at once (count, for_each) race to create the same
    // two objects: each lost race means the other made progress, so the
    // third try finds both.
    let mut attempt = 1;
    let applied = loop {
        match host.check(&ensure).await {
            Err(mke_ssh::SshError::CommandFailed { stderr_tail, .. })
                if attempt < 3 && mke_k0s::kube::apply_lost_race(&stderr_tail) =>
            {
                attempt += 1;
            }
            other => break other,
        }
    }
    .map_err(OpError::from)?;
    tracing::info!(host = host.name(), "{}", applied.trim().replace('\n', "; "));
    step.done();

    let warnings = clean_up(host).await;

    let ca = host
        .check(
            &Command::new(format!("cat {CA_PATH}"))
                .timeout(COMMAND_TIMEOUT)
                .display(format!("read {CA_PATH}")),
        )
        .await
        .map_err(OpError::from)?;
    if !ca.contains("BEGIN CERTIFICATE") {
        return Err(OpError::host(
            host.name(),
            format!("{CA_PATH} holds no PEM certificate"),
            "Check that the host is a k0s controller of the cluster.",
        )
        .into());
    }

    let step = Step::start(host.name(), "mint token");
    let secret = new_secret_name();
    let planned_expiry = SystemTime::now() + request.duration;
    host.check(
        &Command::new(mke_k0s::kube::create_from_stdin_command())
            .stdin(secret_manifest(
                &secret,
                sa,
                request.duration,
                planned_expiry,
            ))
            .timeout(COMMAND_TIMEOUT)
            .display(format!("kubectl create Secret {NAMESPACE}/{secret}")),
    )
    .await
    .map_err(OpError::from)?;
    let minted = host
        .run(
            &Command::new(create_token_command(sa, &secret, request.duration))
                .timeout(COMMAND_TIMEOUT),
        )
        .await;
    let token = match minted {
        Ok(out) if out.success() && mke_k0s::kube::is_token(out.stdout.trim()) => {
            Secret::new(out.stdout.trim().to_string())
        }
        other => {
            // The Secret is useless without its token.
            let _ = host
                .run(&Command::new(delete_secrets_command(std::slice::from_ref(
                    &secret,
                ))))
                .await;
            return Err(match other {
                Err(e) => OpError::from(e),
                Ok(out) => OpError::host(
                    host.name(),
                    format!(
                        "`kubectl create token {sa}` failed (exit code {}): {}",
                        out.status,
                        out.stderr.trim()
                    ),
                    "Check that the cluster's API server runs on this controller.",
                ),
            }
            .into());
        }
    };
    let expires_at = jwt_expiry(token.expose()).unwrap_or(planned_expiry);
    tracing::info!(
        host = host.name(),
        secret = secret.as_str(),
        expires_at = rfc3339(expires_at).as_str(),
        "minted a token for {NAMESPACE}/{sa}, bound to Secret {secret}"
    );
    step.done();
    Ok((
        Minted {
            token,
            ca_certificate: ca,
            expires_at,
            handle: CloseHandle {
                secret,
                namespace: NAMESPACE.to_string(),
                expires_at: rfc3339(expires_at),
                controllers: order,
            },
        },
        warnings,
    ))
}

/// Deletes managed Secrets whose time is up. A failure here only warns:
/// those Secrets' tokens have expired anyway.
async fn clean_up(host: &Host) -> Vec<Warning> {
    let mut d = Vec::new();
    let result: Result<Vec<String>, OpError> = async {
        let out = host
            .check(
                &Command::new(list_managed_secrets_script())
                    .timeout(COMMAND_TIMEOUT)
                    .display("kubectl get secrets -l app.kubernetes.io/managed-by=terraform-provider-mke"),
            )
            .await?;
        let (clock, list) = out.split_once('\n').unwrap_or((&out, ""));
        let now = clock.trim().parse::<i64>().map_err(|_| {
            OpError::host(host.name(), format!("`date +%s` printed {clock:?}"), "")
        })?;
        let expired = expired_secrets(list, now)
            .map_err(|e| OpError::host(host.name(), format!("unexpected kubectl output: {e}"), ""))?;
        if !expired.is_empty() {
            host.check(
                &Command::new(delete_secrets_command(&expired)).timeout(COMMAND_TIMEOUT),
            )
            .await?;
            tracing::info!(
                host = host.name(),
                "deleted {} expired Secret(s) left by earlier runs: {}",
                expired.len(),
                expired.join(", ")
            );
        }
        Ok(expired)
    }
    .await;
    if let Err(e) = result {
        d.push(Warning::new(
            "mke_kubeconfig: old token Secrets were not cleaned up",
            format!(
                "{e}\n\nSecrets labelled {MANAGED_BY_KEY}={MANAGED_BY_VALUE} in {NAMESPACE} whose \
                 duration has passed stay until a later run removes them; their tokens have \
                 expired already."
            ),
        ));
    }
    d
}

/// Deletes the run's Secret on the first controller that answers. Nothing
/// here fails the run: the token is capped by its duration, so every problem
/// is a warning that says until when it stays valid and how to end it now.
/// A stop request (Ctrl-C) does not cut it short: revoking the token is the
/// clean-up a stopped run needs most, and every step has a timeout.
pub async fn close(rt: &Runtime, handle: &CloseHandle) -> Vec<Warning> {
    let manual = manual_close(handle);
    let mut problems: Vec<String> = Vec::new();
    for reach in &handle.controllers {
        let host = match rt.connect(&reach.target(), connect_timeout(rt)).await {
            Ok(h) => h,
            Err(e) => {
                problems.push(format!("{}: {e}", reach.key));
                continue;
            }
        };
        let step = Step::start(host.name(), "delete token Secret");
        match host
            .run(
                &Command::new(close_script(&handle.secret))
                    .timeout(COMMAND_TIMEOUT)
                    .display(format!(
                        "kubectl delete secret {} -n {} --ignore-not-found",
                        handle.secret, handle.namespace
                    )),
            )
            .await
        {
            Ok(out) if out.success() => {
                if mke_k0s::kube::close_found_k0s_gone(&out.stdout) {
                    tracing::info!(
                        host = host.name(),
                        "k0s is gone from {}; the Secret {} went with the cluster",
                        host.name(),
                        handle.secret
                    );
                }
                step.done();
                return Vec::new();
            }
            Ok(out) => problems.push(format!(
                "{}: the delete failed (exit code {}): {}",
                reach.key,
                out.status,
                out.stderr.trim()
            )),
            Err(e) => problems.push(format!("{}: {e}", reach.key)),
        }
    }
    vec![Warning::new(
        format!(
            "mke_kubeconfig: the token's Secret {} was not deleted",
            handle.secret
        ),
        format!(
            "No controller deleted it:\n{}\n\nThe token stays valid until {}, when it expires. \
             To end it now, run on a controller: {manual}",
            problems
                .iter()
                .map(|p| format!("- {p}"))
                .collect::<Vec<_>>()
                .join("\n"),
            handle.expires_at
        ),
    )]
}

/// The command that ends the token now, for messages.
pub fn manual_close(handle: &CloseHandle) -> String {
    format!(
        "{} kubectl delete secret {} -n {}",
        mke_k0s::K0S_BINARY_PATH,
        handle.secret,
        handle.namespace
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_differ_and_are_kubernetes_names() {
        let a = new_secret_name();
        let b = new_secret_name();
        assert_ne!(a, b);
        for n in [a, b] {
            assert!(
                n.starts_with(SECRET_PREFIX) && n.len() == SECRET_PREFIX.len() + 12,
                "{n}"
            );
            assert!(n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        }
    }

    #[test]
    fn the_close_handle_round_trips() {
        let h = CloseHandle {
            secret: "mke-kubeconfig-1".into(),
            namespace: NAMESPACE.into(),
            expires_at: "2024-05-01T12:00:00Z".into(),
            controllers: vec![Reach {
                key: "cp1".into(),
                address: "192.0.2.11".into(),
                port: Some(2222),
                user: None,
                host_key: Some("ssh-ed25519 AAAA".into()),
            }],
        };
        assert_eq!(CloseHandle::decode(&h.encode()).unwrap(), h);
    }
}
