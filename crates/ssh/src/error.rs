use std::time::Duration;

/// Everything that can go wrong talking to a host. Every message names the host; none carries a
/// private key or a command's stdin.
///
/// Messages state facts only (host, user, fingerprints, command, stderr, durations); what the user
/// should do about them depends on how the caller exposes the settings, so the caller words that
/// advice from the public fields below.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// No SSH connection could be made, or it was lost.
    #[error("cannot connect to {host}: {detail}")]
    Connect {
        /// `user@address:port`.
        host: String,
        /// What ssh said, or what was tried and for how long.
        detail: String,
    },

    /// The host answered, but its login was refused with the key(s) offered.
    #[error("cannot connect to {host}: the host refused the login of user {user} ({ssh_said})")]
    LoginRefused {
        /// `user@address:port`.
        host: String,
        user: String,
        /// ssh's last complaint, e.g. `root@10.0.0.1: Permission denied (publickey).`
        ssh_said: String,
    },

    /// The jump host refused the login with the key(s) offered for it.
    #[error("cannot connect to {host}: the bastion {bastion} refused the login ({ssh_said})")]
    BastionLoginRefused {
        /// The target, `user@address:port`.
        host: String,
        /// The bastion, `user@address:port`.
        bastion: String,
        ssh_said: String,
    },

    /// No host key is pinned for the jump host and the one it presented is not (or differently) in
    /// the user's `~/.ssh/known_hosts`.
    #[error(
        "cannot connect to {host}: the host key of bastion {bastion} (jump host for {host}) is \
         not in ~/.ssh/known_hosts or does not match it ({ssh_said})"
    )]
    BastionHostKeyUnknown {
        /// The target, `user@address:port`.
        host: String,
        /// The bastion, `user@address:port`.
        bastion: String,
        ssh_said: String,
    },

    /// The host (or the bastion) presented another key than the pinned one.
    #[error(
        "the host key of {host} has changed: expected {expected_fingerprint}, the host presented \
         {presented_fingerprint}"
    )]
    HostKeyChanged {
        /// `user@address:port`, or `bastion user@address:port (jump host for user@address:port)`.
        host: String,
        /// `SHA256:...` of the pinned key.
        expected_fingerprint: String,
        /// `SHA256:...` of the key the host presented, or what ssh said when it did not tell.
        presented_fingerprint: String,
    },

    /// A user other than root cannot run `sudo -n` without a password.
    #[error(
        "user {user} on host {host} needs passwordless sudo (sudo -n){}",
        detail_suffix(.detail)
    )]
    SudoNeedsPassword {
        host: String,
        user: String,
        /// What sudo printed.
        detail: String,
    },

    /// The command ran longer than its timeout and was stopped.
    #[error("command `{command}` on {host} timed out after {}", human_duration(*.after))]
    Timeout {
        host: String,
        /// The command's display text.
        command: String,
        after: Duration,
    },

    /// The command exited with a non-zero status.
    #[error(
        "command `{command}` failed on {host} with exit code {exit_code}{}",
        detail_suffix(.stderr_tail)
    )]
    CommandFailed {
        host: String,
        /// The command's display text.
        command: String,
        exit_code: i32,
        /// The last lines (at most [`STDERR_TAIL_LINES`](crate::STDERR_TAIL_LINES)) of stderr.
        stderr_tail: String,
    },

    /// The pinned host key is not an OpenSSH public key.
    #[error("invalid host_key for {host}: {detail}")]
    InvalidHostKey { host: String, detail: String },

    /// The address, user or port cannot be used.
    #[error("invalid SSH target {host}: {detail}")]
    InvalidTarget { host: String, detail: String },

    /// A local file or process operation failed.
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
            | SshError::LoginRefused { host, .. }
            | SshError::BastionLoginRefused { host, .. }
            | SshError::BastionHostKeyUnknown { host, .. }
            | SshError::HostKeyChanged { host, .. }
            | SshError::SudoNeedsPassword { host, .. }
            | SshError::Timeout { host, .. }
            | SshError::CommandFailed { host, .. }
            | SshError::InvalidHostKey { host, .. }
            | SshError::InvalidTarget { host, .. }
            | SshError::Io { host, .. } => host,
        }
    }

    /// True when no session could be had on the host at all (not reached, or the login was
    /// refused), as opposed to reached and misbehaving; Read reports such a host as `unreachable`
    /// instead of failing.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            SshError::Connect { .. }
                | SshError::LoginRefused { .. }
                | SshError::BastionLoginRefused { .. }
                | SshError::BastionHostKeyUnknown { .. }
        )
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

/// Renders a duration the way configuration files write them ("5m", "30s", "1m30s", "250ms").
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
    fn durations_read_like_configured_durations() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(human_duration(Duration::from_secs(30)), "30s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
        assert_eq!(human_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(human_duration(Duration::from_secs(3660)), "1h1m");
    }

    #[test]
    fn host_key_message_states_the_host_and_both_fingerprints_only() {
        let err = SshError::HostKeyChanged {
            host: "root@10.0.0.1:22".into(),
            expected_fingerprint: "SHA256:old".into(),
            presented_fingerprint: "SHA256:new".into(),
        };
        assert_eq!(
            err.to_string(),
            "the host key of root@10.0.0.1:22 has changed: expected SHA256:old, the host \
             presented SHA256:new"
        );
    }

    #[test]
    fn refused_logins_count_as_unreachable_like_other_connection_failures() {
        let refused = SshError::LoginRefused {
            host: "deploy@h:22".into(),
            user: "deploy".into(),
            ssh_said: "deploy@h: Permission denied (publickey).".into(),
        };
        assert!(refused.is_unreachable());
        assert_eq!(
            refused.to_string(),
            "cannot connect to deploy@h:22: the host refused the login of user deploy \
             (deploy@h: Permission denied (publickey).)"
        );
        let sudo = SshError::SudoNeedsPassword {
            host: "deploy@h:22".into(),
            user: "deploy".into(),
            detail: "sudo: a password is required".into(),
        };
        assert!(!sudo.is_unreachable());
        assert_eq!(
            sudo.to_string(),
            "user deploy on host deploy@h:22 needs passwordless sudo (sudo -n):\nsudo: a password \
             is required"
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
