use std::time::Duration;

/// Everything that can go wrong talking to a host. Every message names the host; none carries a
/// private key or a command's stdin.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {host}: {detail}")]
    Connect { host: String, detail: String },

    #[error(
        "the host key of {host} has changed: expected {expected_fingerprint}, the host presented \
         {presented_fingerprint}; if the host was legitimately rebuilt, set host_key to the new key \
         and run `terraform apply -refresh=false`"
    )]
    HostKeyChanged {
        host: String,
        expected_fingerprint: String,
        presented_fingerprint: String,
    },

    #[error(
        "user {user} on host {host} needs passwordless sudo (sudo -n): add a NOPASSWD rule for \
         {user} in /etc/sudoers.d or connect as root{}",
        detail_suffix(.detail)
    )]
    SudoNeedsPassword {
        host: String,
        user: String,
        detail: String,
    },

    #[error("command `{command}` on {host} timed out after {}", human_duration(*.after))]
    Timeout {
        host: String,
        command: String,
        after: Duration,
    },

    #[error(
        "command `{command}` failed on {host} with exit code {exit_code}{}",
        detail_suffix(.stderr_tail)
    )]
    CommandFailed {
        host: String,
        command: String,
        exit_code: i32,
        /// The last lines (at most [`STDERR_TAIL_LINES`](crate::STDERR_TAIL_LINES)) of stderr.
        stderr_tail: String,
    },

    #[error("invalid host_key for {host}: {detail}")]
    InvalidHostKey { host: String, detail: String },

    #[error("invalid SSH target {host}: {detail}")]
    InvalidTarget { host: String, detail: String },

    #[error("{action} for {host}: {source}")]
    Io {
        host: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
}

impl SshError {
    /// The host the error is about, as `user@address:port`.
    pub fn host(&self) -> &str {
        match self {
            SshError::Connect { host, .. }
            | SshError::HostKeyChanged { host, .. }
            | SshError::SudoNeedsPassword { host, .. }
            | SshError::Timeout { host, .. }
            | SshError::CommandFailed { host, .. }
            | SshError::InvalidHostKey { host, .. }
            | SshError::InvalidTarget { host, .. }
            | SshError::Io { host, .. } => host,
        }
    }

    /// True when the host could not be reached at all (as opposed to reached and misbehaving);
    /// Read reports such a host as `unreachable` instead of failing.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SshError::Connect { .. })
    }
}

fn detail_suffix(detail: &str) -> String {
    let detail = detail.trim();
    if detail.is_empty() {
        String::new()
    } else {
        format!(":\n{detail}")
    }
}

/// Renders a duration the way Terraform users write them ("5m", "30s", "1m30s", "250ms").
pub fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || out.is_empty() {
        out.push_str(&format!("{seconds}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_terraform_durations() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(human_duration(Duration::from_secs(30)), "30s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
        assert_eq!(human_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(human_duration(Duration::from_secs(3660)), "1h1m");
    }

    #[test]
    fn host_key_message_names_host_both_fingerprints_and_the_way_out() {
        let err = SshError::HostKeyChanged {
            host: "root@10.0.0.1:22".into(),
            expected_fingerprint: "SHA256:old".into(),
            presented_fingerprint: "SHA256:new".into(),
        };
        let message = err.to_string();
        assert!(message.contains("root@10.0.0.1:22"), "{message}");
        assert!(message.contains("SHA256:old"), "{message}");
        assert!(message.contains("SHA256:new"), "{message}");
        assert!(
            message.contains("terraform apply -refresh=false"),
            "{message}"
        );
    }

    #[test]
    fn command_failure_shows_stderr_below_the_summary() {
        let err = SshError::CommandFailed {
            host: "root@h:22".into(),
            command: "k0s status".into(),
            exit_code: 3,
            stderr_tail: "boom\n".into(),
        };
        assert_eq!(
            err.to_string(),
            "command `k0s status` failed on root@h:22 with exit code 3:\nboom"
        );
    }
}
