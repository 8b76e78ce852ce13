//! k0s command lines, as strings run through `sh -c` on a host, and Go durations.
//!
//! Every command starts with [`K0S_BINARY_PATH`] rather than a bare `k0s`: under `sudo` the
//! search path is `secure_path`, which on RHEL-family systems leaves out `/usr/local/bin`.

use crate::model::Role;
pub use crate::outcome::{
    etcd_leave_outcome, is_not_found, start_outcome, stop_outcome, EtcdLeaveOutcome, StartOutcome,
    StopOutcome,
};
pub use mke_shell::{shell_join, shell_quote};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Where the provider puts the k0s binary; the unit `k0s install` writes runs this path.
pub const K0S_BINARY_PATH: &str = "/usr/local/bin/k0s";
/// The node config k0s reads by default.
pub const K0S_CONFIG_PATH: &str = "/etc/k0s/k0s.yaml";
/// The conventional place for the join token a host is installed with.
pub const JOIN_TOKEN_PATH: &str = "/etc/k0s/join.token";
pub const K0S_DATA_DIR: &str = "/var/lib/k0s";
/// Where k0s keeps its node config and the join token.
pub const K0S_CONFIG_DIR: &str = "/etc/k0s";
/// k0s's sockets and pid files.
pub const K0S_RUN_DIR: &str = "/run/k0s";
/// The admin kubeconfig on a controller.
pub const ADMIN_KUBECONFIG_PATH: &str = "/var/lib/k0s/pki/admin.conf";
/// How long a kubectl call that should answer at once may wait for the API server.
pub const KUBECTL_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The systemd unit `k0s install` writes for a role.
pub fn unit_path(role: Role) -> &'static str {
    match role {
        Role::Controller => "/etc/systemd/system/k0scontroller.service",
        Role::Worker => "/etc/systemd/system/k0sworker.service",
    }
}

/// The systemd unit name for a role, for `systemctl`.
pub fn unit_name(role: Role) -> &'static str {
    match role {
        Role::Controller => "k0scontroller.service",
        Role::Worker => "k0sworker.service",
    }
}

pub(crate) fn k0s<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> String {
    let mut words: Vec<String> = vec![K0S_BINARY_PATH.to_owned()];
    words.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
    shell_join(words)
}

/// The flags of `k0s install controller|worker` the provider uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFlags {
    pub role: Role,
    /// `--config`; only `install controller` accepts it, so it is left out for a worker.
    pub config: Option<String>,
    pub token_file: Option<String>,
    /// `--enable-worker`; controller only.
    pub enable_worker: bool,
    /// `--no-taints`; controller only.
    pub no_taints: bool,
    pub labels: BTreeMap<String, String>,
    /// `key=value:Effect` or `key:Effect`.
    pub taints: Vec<String>,
    pub kubelet_extra_args: Option<String>,
    /// Replace an existing unit (k0s keeps running; restart it afterwards).
    pub force: bool,
}

impl InstallFlags {
    pub fn new(role: Role) -> Self {
        InstallFlags {
            role,
            config: None,
            token_file: None,
            enable_worker: false,
            no_taints: false,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            kubelet_extra_args: None,
            force: false,
        }
    }
}

/// `k0s install <role> …`. Valued flags use the `--name=value` form, so a value that starts with
/// `-` (as kubelet arguments do) can never be taken for a flag.
pub fn install_command(flags: &InstallFlags) -> String {
    let mut args = vec!["install".to_owned(), flags.role.to_string()];
    let controller = flags.role == Role::Controller;
    if let (true, Some(config)) = (controller, &flags.config) {
        args.push(format!("--config={config}"));
    }
    if let Some(token_file) = &flags.token_file {
        args.push(format!("--token-file={token_file}"));
    }
    if controller && flags.enable_worker {
        args.push("--enable-worker".to_owned());
    }
    if controller && flags.no_taints {
        args.push("--no-taints".to_owned());
    }
    if !flags.labels.is_empty() {
        let labels = flags
            .labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"));
        args.push(format!("--labels={}", csv_join(labels)));
    }
    if !flags.taints.is_empty() {
        args.push(format!(
            "--taints={}",
            csv_join(flags.taints.iter().cloned())
        ));
    }
    if let Some(extra) = &flags.kubelet_extra_args {
        args.push(format!("--kubelet-extra-args={extra}"));
    }
    if flags.force {
        args.push("--force".to_owned());
    }
    k0s(args)
}

/// k0s reads slice flags as one CSV record.
fn csv_join(fields: impl Iterator<Item = String>) -> String {
    fields
        .map(|field| {
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `k0s token create --role=<role> --expiry=<go duration>`; run on a running controller.
pub fn token_create(role: Role, expiry: Duration) -> String {
    k0s([
        "token".to_owned(),
        "create".to_owned(),
        format!("--role={role}"),
        format!("--expiry={}", go_duration(expiry)),
    ])
}

pub fn token_invalidate(id: &str) -> String {
    k0s(["token", "invalidate", id])
}

pub fn status_json() -> String {
    k0s(["status", "-o", "json"])
}

pub fn version() -> String {
    k0s(["version"])
}

/// Starts the installed unit; k0s answers `already running` when it is.
pub fn start() -> String {
    k0s(["start"])
}

pub fn stop() -> String {
    k0s(["stop"])
}

/// Requires k0s to be stopped.
pub fn reset() -> String {
    k0s(["reset"])
}

/// Stops and resets k0s when its binary is there, then removes the binary, the config, the data
/// and the run directory. A host where k0s was never installed, or is already stopped, or whose
/// unit failed, is fine; any other failure of `stop` or `reset` is printed on stderr and fails
/// the script. See [`crate::cli::stop_outcome`] for the texts it accepts.
pub fn wipe_script() -> String {
    use crate::outcome::{ALREADY_STOPPED, FAILED_STATE, NOT_INSTALLED};
    format!(
        "k={K0S_BINARY_PATH}; if [ -x \"$k\" ]; then \
           out=$(\"$k\" stop 2>&1) || case \"$out\" in *'{ALREADY_STOPPED}'*|*'{NOT_INSTALLED}'*|*'{FAILED_STATE}'*) ;; *) echo \"$out\" >&2; exit 1;; esac; \
           out=$(\"$k\" reset 2>&1) || case \"$out\" in *'{NOT_INSTALLED}'*) ;; *) echo \"$out\" >&2; exit 1;; esac; \
         fi; rm -rf {K0S_CONFIG_DIR} {K0S_DATA_DIR} {K0S_RUN_DIR} \"$k\""
    )
}

pub fn kubeconfig_admin() -> String {
    k0s(["kubeconfig", "admin"])
}

pub fn etcd_member_list() -> String {
    k0s(["etcd", "member-list"])
}

/// `peer_address` is an IP or a DNS name, not a URL.
pub fn etcd_leave(peer_address: &str) -> String {
    k0s([
        "etcd".to_owned(),
        "leave".to_owned(),
        format!("--peer-address={peer_address}"),
    ])
}

/// `k0s kubectl --request-timeout=30s <args>`, every word quoted: the one way this crate builds a
/// kubectl call. The request timeout bounds each request to the API server (not a whole `drain`,
/// which has its own `--timeout`), so a controller whose API server hangs fails the call instead of
/// holding it until the SSH command's own timeout.
pub fn kubectl<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> String {
    let mut words = vec![
        "kubectl".to_owned(),
        format!("--request-timeout={}", go_duration(KUBECTL_REQUEST_TIMEOUT)),
    ];
    words.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
    k0s(words)
}

/// One Node as JSON, for [`crate::parse_node_json`]. A missing node fails with a stderr that
/// [`is_not_found`] recognises.
pub fn kubectl_get_node_json(name: &str) -> String {
    kubectl(["get", "node", name, "-o", "json"])
}

/// Every Node as one `List`, for [`crate::kube::parse_node_list`].
pub fn kubectl_get_nodes_json() -> String {
    kubectl(["get", "nodes", "-o", "json"])
}

/// `kubectl label node <name> --overwrite k=v … k2-`, or `None` when there is nothing to change.
pub fn kubectl_label(
    name: &str,
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Option<String> {
    if set.is_empty() && remove.is_empty() {
        return None;
    }
    let mut args = vec![
        "label".to_owned(),
        "node".to_owned(),
        name.to_owned(),
        "--overwrite".to_owned(),
    ];
    args.extend(set.iter().map(|(key, value)| format!("{key}={value}")));
    args.extend(remove.iter().map(|key| format!("{key}-")));
    Some(kubectl(args))
}

/// `kubectl taint node <name> --overwrite k=v:Effect … k:Effect-`, or `None` when there is
/// nothing to change. Taints are written `key=value:Effect` or `key:Effect`; a taint to remove
/// is matched by key and effect (kubectl refuses a value there), or by key alone without effect.
pub fn kubectl_taint(name: &str, add: &[String], remove: &[String]) -> Option<String> {
    if add.is_empty() && remove.is_empty() {
        return None;
    }
    let mut args = vec![
        "taint".to_owned(),
        "node".to_owned(),
        name.to_owned(),
        "--overwrite".to_owned(),
    ];
    args.extend(add.iter().cloned());
    args.extend(remove.iter().map(|taint| {
        let (key_value, effect) = match taint.rsplit_once(':') {
            Some((key_value, effect)) => (key_value, Some(effect)),
            None => (taint.as_str(), None),
        };
        let key = key_value.split_once('=').map_or(key_value, |(key, _)| key);
        match effect {
            Some(effect) => format!("{key}:{effect}-"),
            None => format!("{key}-"),
        }
    }));
    Some(kubectl(args))
}

pub fn kubectl_cordon(name: &str) -> String {
    kubectl(["cordon", name])
}

pub fn kubectl_uncordon(name: &str) -> String {
    kubectl(["uncordon", name])
}

/// Evicts everything but DaemonSet pods, giving up after `timeout` (kubectl takes 0 as forever).
pub fn kubectl_drain(name: &str, timeout: Duration) -> String {
    kubectl([
        "drain".to_owned(),
        name.to_owned(),
        "--ignore-daemonsets".to_owned(),
        "--delete-emptydir-data".to_owned(),
        "--force".to_owned(),
        format!("--timeout={}", go_duration(timeout)),
    ])
}

/// Succeeds when the Node is already gone, so a repeated delete is harmless.
pub fn kubectl_delete_node(name: &str) -> String {
    kubectl(["delete", "node", name, "--ignore-not-found"])
}

/// Prints `ok` when the API server is ready.
pub fn kubectl_readyz() -> String {
    kubectl(["get", "--raw=/readyz"])
}

/// Prints the UID of the `kube-system` namespace: the cluster's identity.
pub fn kube_system_uid() -> String {
    kubectl([
        "get",
        "namespace",
        "kube-system",
        "-o",
        "jsonpath={.metadata.uid}",
    ])
}

/// Formats a duration the way Go's `time.Duration.String` does (`10m0s`, `1h30m0s`, `1.5s`,
/// `300ms`), which is what Go's `time.ParseDuration` reads back.
pub fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if nanos < 1_000_000_000 {
        let (scale, unit) = match nanos {
            n if n < 1_000 => (1, "ns"),
            n if n < 1_000_000 => (1_000, "\u{b5}s"),
            _ => (1_000_000, "ms"),
        };
        push_fraction(&mut out, nanos, scale);
        out.push_str(unit);
        return out;
    }
    let seconds = nanos / 1_000_000_000;
    let (hours, minutes) = (seconds / 3600, seconds / 60 % 60);
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    push_fraction(&mut out, nanos % 60_000_000_000, 1_000_000_000);
    out.push('s');
    out
}

/// `value / scale` in decimal, without trailing zeros in the fraction.
fn push_fraction(out: &mut String, value: u128, scale: u128) {
    let _ = write!(out, "{}", value / scale);
    let remainder = value % scale;
    if remainder > 0 {
        let width = scale.ilog10() as usize;
        let digits = format!("{remainder:0width$}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {input:?}: expected a number followed by a unit (ns, us, ms, s, m, h), like 30s or 1h30m")]
    Malformed { input: String },
    #[error("invalid duration {input:?}: unknown unit {unit:?}; use ns, us, ms, s, m or h")]
    UnknownUnit { input: String, unit: String },
    #[error("invalid duration {input:?}: negative durations are not allowed")]
    Negative { input: String },
    #[error("invalid duration {input:?}: longer than Go can represent (about 292 years)")]
    TooLarge { input: String },
}

/// Reads a duration in Go duration syntax (`30s`, `5m`, `1h30m`, `1.5h`, `48h`), which k0s and
/// kubectl accept too. A lone `0` is allowed, as in Go; negative values are not.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let malformed = || DurationError::Malformed {
        input: input.to_owned(),
    };
    let (negative, mut rest) = match input.strip_prefix('-') {
        Some(unsigned) => (true, unsigned),
        None => (false, input.strip_prefix('+').unwrap_or(input)),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(malformed());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let whole = &rest[..whole_len];
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after_dot[..fraction_len];
            rest = &after_dot[fraction_len..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(malformed());
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(malformed()),
            other => {
                return Err(DurationError::UnknownUnit {
                    input: input.to_owned(),
                    unit: other.to_owned(),
                })
            }
        };
        let too_large = || DurationError::TooLarge {
            input: input.to_owned(),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(too_large)?;
        // Digits past nanosecond precision cannot change the result.
        let fraction = &fraction[..fraction.len().min(20)];
        if !fraction.is_empty() {
            let numerator: u128 = fraction.parse().map_err(|_| malformed())?;
            part += numerator * scale / 10u128.pow(fraction.len() as u32);
        }
        total = total.checked_add(part).ok_or_else(too_large)?;
        if total > i64::MAX as u128 {
            return Err(too_large());
        }
    }
    if negative && total > 0 {
        return Err(DurationError::Negative {
            input: input.to_owned(),
        });
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_controller_with_workloads() {
        let flags = InstallFlags {
            config: Some(K0S_CONFIG_PATH.to_owned()),
            enable_worker: true,
            no_taints: true,
            ..InstallFlags::new(Role::Controller)
        };
        assert_eq!(
            install_command(&flags),
            "/usr/local/bin/k0s install controller --config=/etc/k0s/k0s.yaml --enable-worker --no-taints"
        );
    }

    #[test]
    fn install_joining_controller() {
        let flags = InstallFlags {
            config: Some(K0S_CONFIG_PATH.to_owned()),
            token_file: Some(JOIN_TOKEN_PATH.to_owned()),
            force: true,
            ..InstallFlags::new(Role::Controller)
        };
        assert_eq!(
            install_command(&flags),
            "/usr/local/bin/k0s install controller --config=/etc/k0s/k0s.yaml --token-file=/etc/k0s/join.token --force"
        );
    }

    #[test]
    fn install_worker_with_labels_taints_and_kubelet_args() {
        let flags = InstallFlags {
            token_file: Some(JOIN_TOKEN_PATH.to_owned()),
            labels: [
                ("c".to_owned(), "d".to_owned()),
                ("a".to_owned(), "b".to_owned()),
            ]
            .into(),
            taints: vec!["k=v:NoSchedule".to_owned(), "gpu:NoExecute".to_owned()],
            kubelet_extra_args: Some("--node-ip=10.0.0.2 --max-pods=200".to_owned()),
            force: true,
            // Controller-only flags a worker does not accept.
            config: Some(K0S_CONFIG_PATH.to_owned()),
            enable_worker: true,
            no_taints: true,
            ..InstallFlags::new(Role::Worker)
        };
        assert_eq!(
            install_command(&flags),
            "/usr/local/bin/k0s install worker --token-file=/etc/k0s/join.token --labels=a=b,c=d \
             --taints=k=v:NoSchedule,gpu:NoExecute '--kubelet-extra-args=--node-ip=10.0.0.2 --max-pods=200' --force"
        );
    }

    #[test]
    fn token_and_lifecycle_commands() {
        assert_eq!(
            token_create(Role::Worker, Duration::from_secs(600)),
            "/usr/local/bin/k0s token create --role=worker --expiry=10m0s"
        );
        assert_eq!(
            token_create(Role::Controller, Duration::from_secs(3600)),
            "/usr/local/bin/k0s token create --role=controller --expiry=1h0m0s"
        );
        assert_eq!(
            token_invalidate("abcdef"),
            "/usr/local/bin/k0s token invalidate abcdef"
        );
        assert_eq!(status_json(), "/usr/local/bin/k0s status -o json");
        assert_eq!(version(), "/usr/local/bin/k0s version");
        assert_eq!(start(), "/usr/local/bin/k0s start");
        assert_eq!(stop(), "/usr/local/bin/k0s stop");
        assert_eq!(reset(), "/usr/local/bin/k0s reset");
        assert_eq!(kubeconfig_admin(), "/usr/local/bin/k0s kubeconfig admin");
        assert_eq!(etcd_member_list(), "/usr/local/bin/k0s etcd member-list");
        assert_eq!(
            etcd_leave("10.0.0.12"),
            "/usr/local/bin/k0s etcd leave --peer-address=10.0.0.12"
        );
        assert_eq!(
            unit_path(Role::Worker),
            "/etc/systemd/system/k0sworker.service"
        );
    }

    #[test]
    fn wipe_script_tolerates_a_stopped_or_missing_k0s() {
        assert_eq!(
            wipe_script(),
            r#"k=/usr/local/bin/k0s; if [ -x "$k" ]; then out=$("$k" stop 2>&1) || case "$out" in *'already stopped'*|*'not been installed'*|*'failed state'*) ;; *) echo "$out" >&2; exit 1;; esac; out=$("$k" reset 2>&1) || case "$out" in *'not been installed'*) ;; *) echo "$out" >&2; exit 1;; esac; fi; rm -rf /etc/k0s /var/lib/k0s /run/k0s "$k""#
        );
    }

    #[test]
    fn kubectl_commands() {
        assert_eq!(
            kubectl_get_node_json("w1"),
            "/usr/local/bin/k0s kubectl --request-timeout=30s get node w1 -o json"
        );
        assert_eq!(
            kubectl_get_nodes_json(),
            "/usr/local/bin/k0s kubectl --request-timeout=30s get nodes -o json"
        );
        let set: BTreeMap<String, String> = [("tier".to_owned(), "web".to_owned())].into();
        assert_eq!(
            kubectl_label("w1", &set, &["old".to_owned()]).unwrap(),
            "/usr/local/bin/k0s kubectl --request-timeout=30s label node w1 --overwrite tier=web old-"
        );
        assert_eq!(kubectl_label("w1", &BTreeMap::new(), &[]), None);
        assert_eq!(
            kubectl_taint("w1", &["a=b:NoSchedule".to_owned()], &["c=d:NoExecute".to_owned(), "e:PreferNoSchedule".to_owned(), "f".to_owned()]).unwrap(),
            "/usr/local/bin/k0s kubectl --request-timeout=30s taint node w1 --overwrite a=b:NoSchedule c:NoExecute- e:PreferNoSchedule- f-"
        );
        assert_eq!(kubectl_taint("w1", &[], &[]), None);
        assert_eq!(
            kubectl_cordon("w1"),
            "/usr/local/bin/k0s kubectl --request-timeout=30s cordon w1"
        );
        assert_eq!(
            kubectl_uncordon("w1"),
            "/usr/local/bin/k0s kubectl --request-timeout=30s uncordon w1"
        );
        assert_eq!(
            kubectl_drain("w1", Duration::from_secs(300)),
            "/usr/local/bin/k0s kubectl --request-timeout=30s drain w1 --ignore-daemonsets --delete-emptydir-data --force --timeout=5m0s"
        );
        assert_eq!(
            kubectl_delete_node("w1"),
            "/usr/local/bin/k0s kubectl --request-timeout=30s delete node w1 --ignore-not-found"
        );
        assert_eq!(
            kubectl_readyz(),
            "/usr/local/bin/k0s kubectl --request-timeout=30s get --raw=/readyz"
        );
        assert_eq!(
            kube_system_uid(),
            "/usr/local/bin/k0s kubectl --request-timeout=30s get namespace kube-system -o 'jsonpath={.metadata.uid}'"
        );
    }

    #[test]
    fn go_duration_formats_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_500), "1.5\u{b5}s"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(600), "10m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_secs(48 * 3600), "48h0m0s"),
            (Duration::new(61, 5_000_000), "1m1.005s"),
        ];
        for (duration, text) in cases {
            assert_eq!(go_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration), "{text}");
        }
    }

    #[test]
    fn parse_duration_reads_go_duration_syntax() {
        let cases = [
            ("30s", 30),
            ("5m", 300),
            ("1h30m", 5400),
            ("48h", 172_800),
            ("1.5h", 5400),
            ("0", 0),
            ("+2m", 120),
            ("2m30s", 150),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("-0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parse_duration_rejects_with_a_clear_message() {
        assert_eq!(
            parse_duration("").unwrap_err().to_string(),
            "invalid duration \"\": expected a number followed by a unit (ns, us, ms, s, m, h), like 30s or 1h30m"
        );
        assert_eq!(
            parse_duration("-5m").unwrap_err().to_string(),
            "invalid duration \"-5m\": negative durations are not allowed"
        );
        assert_eq!(
            parse_duration("5d").unwrap_err().to_string(),
            "invalid duration \"5d\": unknown unit \"d\"; use ns, us, ms, s, m or h"
        );
        for garbage in [
            "5",
            "m",
            "1h 30m",
            ".s",
            "1..5s",
            "ten minutes",
            "1e3s",
            "5m-",
        ] {
            assert!(
                parse_duration(garbage).is_err(),
                "{garbage} should be rejected"
            );
        }
        assert!(matches!(
            parse_duration("2562048h"),
            Err(DurationError::TooLarge { .. })
        ));
        assert_eq!(
            parse_duration("2562047h"),
            Ok(Duration::from_secs(2_562_047 * 3600))
        );
    }
}
