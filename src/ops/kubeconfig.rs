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

use mke_k0s::{go_duration, shell_join, shell_quote};
use mke_ssh::{Command, Host, Secret};
use serde::{Deserialize, Serialize};

use super::runtime::target;
use super::{Cancel, ControllerHost, OpError, Runtime, Step, Warning};

pub const NAMESPACE: &str = "kube-system";
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "terraform-provider-mke";
pub const DURATION_ANNOTATION: &str = "terraform-provider-mke/token-duration";
pub const EXPIRES_ANNOTATION: &str = "terraform-provider-mke/token-expires-at";
pub const SERVICE_ACCOUNT_ANNOTATION: &str = "terraform-provider-mke/service-account";
pub const SECRET_PREFIX: &str = "mke-kubeconfig-";
const CA_PATH: &str = "/var/lib/k0s/pki/ca.crt";
/// A controller that does not answer within this is skipped for the next:
/// a kubeconfig is asked for from a running cluster, whose hosts answer fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// What the Close script prints when k0s is gone from the host (a destroyed
/// cluster takes the Secret with it).
const GONE: &str = "mke:k0s-gone";

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

/// `k0s kubectl --request-timeout=30s <args>`, every word quoted.
pub fn kubectl<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> String {
    let mut words = vec![
        mke_k0s::K0S_BINARY_PATH.to_string(),
        "kubectl".to_string(),
        format!(
            "--request-timeout={}",
            go_duration(mke_k0s::cli::KUBECTL_REQUEST_TIMEOUT)
        ),
    ];
    words.extend(args.into_iter().map(|a| a.as_ref().to_string()));
    shell_join(words)
}

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
                    "namespace": NAMESPACE,
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
                    "namespace": NAMESPACE,
                }],
            },
        ],
    })
    .to_string()
}

/// Deletes a binding to another role first: `roleRef` is immutable, and
/// keeping the old binding would leave the account its old rights.
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

/// Prints the host's clock (Unix seconds), then the managed Secrets as JSON.
pub fn list_managed_secrets_script() -> String {
    format!(
        "date -u +%s && {}",
        kubectl([
            "get",
            "secrets",
            "-n",
            NAMESPACE,
            "-l",
            &format!("{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"),
            "-o",
            "json",
        ])
    )
}

pub fn delete_secrets_command(names: &[String]) -> String {
    let mut args: Vec<String> = vec!["delete".into(), "secret".into()];
    args.extend(names.iter().cloned());
    args.extend(["-n".into(), NAMESPACE.into(), "--ignore-not-found".into()]);
    kubectl(args)
}

/// Deletes the Secret, or prints [`GONE`] when k0s is no longer on the host.
pub fn close_script(secret: &str) -> String {
    format!(
        "if [ ! -x {k0s} ] || [ ! -d {data} ]; then echo {GONE}; exit 0; fi\n{delete}",
        k0s = mke_k0s::K0S_BINARY_PATH,
        data = mke_k0s::K0S_DATA_DIR,
        delete = delete_secrets_command(&[secret.to_string()]),
    )
}

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
            "namespace": NAMESPACE,
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

pub fn create_token_command(service_account: &str, secret: &str, duration: Duration) -> String {
    kubectl([
        "create".to_string(),
        "token".to_string(),
        service_account.to_string(),
        "-n".to_string(),
        NAMESPACE.to_string(),
        "--bound-object-kind=Secret".to_string(),
        format!("--bound-object-name={secret}"),
        format!("--duration={}", go_duration(duration)),
    ])
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
    format!("{SECRET_PREFIX}{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// Names of the Secrets in `kubectl get secrets -o json` output whose
/// `creationTimestamp` plus their duration annotation is not after `now`
/// (both on the controller's clock): their tokens have expired. Secrets
/// without a readable duration are left alone.
pub fn expired_secrets(list_json: &str, now_unix: i64) -> Result<Vec<String>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(list_json).map_err(|e| format!("not a JSON list: {e}"))?;
    let items = doc["items"]
        .as_array()
        .ok_or_else(|| "the list has no items".to_string())?;
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
            .and_then(|d| mke_k0s::parse_duration(d).ok())
        else {
            continue;
        };
        if created.saturating_add(duration.as_secs() as i64) <= now_unix {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// The `exp` claim of a JWT (service account tokens are JWTs), read without
/// checking the signature: only to tell the user when the token ends.
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

/// A kubeconfig with token authentication. Strings are written as JSON
/// strings, which YAML reads as double-quoted scalars.
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

/// `2024-05-01T12:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Unix seconds of `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`, as Kubernetes writes timestamps.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (m + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let d = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let m = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let y = year_of_era + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
                if attempt < 3 && lost_race(&stderr_tail) =>
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
        &Command::new(kubectl(["create", "-f", "-"]))
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
        Ok(out) if out.success() && is_token(out.stdout.trim()) => {
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

/// What `kubectl apply` reports when another client created or changed the
/// object between its read and its write.
fn lost_race(stderr: &str) -> bool {
    stderr.contains("(AlreadyExists)")
        || stderr.contains("(Conflict)")
        || stderr.contains("the object has been modified")
}

/// One line of printable characters without spaces: what `create token` prints.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_graphic())
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
                if out.stdout.trim() == GONE {
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
    fn timestamps_round_trip_through_rfc3339() {
        for (text, secs) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T12:34:56Z", 951_827_696),
            ("2024-12-31T23:59:59Z", 1_735_689_599),
            ("2038-01-19T03:14:08Z", 2_147_483_648),
        ] {
            assert_eq!(parse_rfc3339(text), Some(secs), "{text}");
            assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(secs as u64)), text);
        }
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00.123+02:00"),
            parse_rfc3339("2024-05-01T12:00:00Z")
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

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
        assert!(expired_secrets("No resources found", now).is_err());
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
        let script = ensure_access_script("mke-terraform", "view");
        assert!(script.contains("get clusterrolebinding terraform-provider-mke:mke-terraform -o 'jsonpath={.roleRef.name}' --ignore-not-found"), "{script}");
        assert!(script.contains("!= view ]"), "{script}");
        assert!(script.ends_with("apply -f -"), "{script}");
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

    #[test]
    fn the_kubeconfig_reads_back_with_token_auth() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let yaml = kubeconfig_yaml("https://192.0.2.11:6443", pem, "mke-terraform", "eyJ.a.b");
        let k = mke_k0s::parse_kubeconfig(&yaml).unwrap();
        assert_eq!(k.server, "https://192.0.2.11:6443");
        assert_eq!(k.ca_certificate, pem);
        assert_eq!(k.user, "mke-terraform");
        assert_eq!(k.token(), Some("eyJ.a.b"));
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
