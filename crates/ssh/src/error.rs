use std::time::Duration;

/// Everything that can go wrong talking to a host. Every message names the host; none carries a
/// private key or a command's stdin.
///
/// Messages state facts only (host, user, fingerprints, command, stderr, durations); what the user
/// should do about them depends on how the caller exposes the settings, so the caller words that
/// advice from the public fields below.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// Nothing answered at the address: every attempt timed out or found no route to it. The only
    /// failure that says the machine may be gone; every other one is about a machine that is
    /// there (or cannot be told apart from one).
    #[error("cannot connect to {host}: {detail}")]
    Unreachable {
        /// `user@address:port`.
        host: String,
        /// What the last attempt ran into.
        why: Unanswered,
        /// What was tried and for how long, and what ssh said last.
        detail: String,
    },

    /// Something at the address answered, and refused the TCP connection: nothing listens on the
    /// SSH port (yet).
    #[error("cannot connect to {host}: {detail}")]
    ConnectionRefused {
        /// `user@address:port`.
        host: String,
        /// What was tried and for how long, and what ssh said last.
        detail: String,
    },

    /// The jump host could not be reached or did not carry the connection: nothing is known
    /// about the host behind it.
    #[error("cannot connect to {host} through the bastion {bastion}: {detail}")]
    BastionConnect {
        /// The target, `user@address:port`.
        host: String,
        /// The bastion, `user@address:port`.
        bastion: String,
        detail: String,
    },

    /// Any other failure to get or keep a session: the connection was reset or lost, the name
    /// did not resolve, the login shell did not work.
    #[error("cannot connect to {host}: {detail}")]
    Connect {
        /// `user@address:port`.
        host: String,
        /// What ssh said, or what was tried and for how long.
        detail: String,
    },

    /// The host answered, but its login was refused with the key(s) offered.
    #[error(
        "cannot connect to {host}: the host refused the login of user {user} ({ssh_said}){}",
        retried_suffix(*.retried_for)
    )]
    LoginRefused {
        /// `user@address:port`.
        host: String,
        user: String,
        /// ssh's last complaint, e.g. `root@10.0.0.1: Permission denied (publickey).`
        ssh_said: String,
        /// How long the login was retried (see [`ConnectPolicy`](crate::ConnectPolicy)); `None`
        /// when the first refusal was final.
        retried_for: Option<Duration>,
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
            SshError::Unreachable { host, .. }
            | SshError::ConnectionRefused { host, .. }
            | SshError::BastionConnect { host, .. }
            | SshError::Connect { host, .. }
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

    /// True only when nothing answered at the host's address (a connect timeout, no route to the
    /// host or its network): the one failure after which the machine may be taken for gone. A
    /// refused connection or login, a changed host key and a failing bastion are not: the
    /// machine may be running, and must not be treated as gone.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SshError::Unreachable { .. })
    }

    /// True when the host refused the login with the key(s) offered.
    pub fn is_login_refused(&self) -> bool {
        matches!(self, SshError::LoginRefused { .. })
    }
}

/// Why nothing answered at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// No answer within the connect timeout (TCP or SSH banner).
    Timeout,
    /// EHOSTUNREACH, "No route to host".
    NoRoute,
    /// ENETUNREACH, "Network is unreachable".
    NetworkUnreachable,
}

fn retried_suffix(retried_for: Option<Duration>) -> String {
    match retried_for {
        Some(after) => format!(
            "; still refused after retrying for {}",
            human_duration(after)
        ),
        None => String::new(),
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
    fn only_an_address_that_does_not_answer_is_unreachable() {
        let unreachable = SshError::Unreachable {
            host: "root@h:22".into(),
            why: Unanswered::NoRoute,
            detail: "no SSH connection within 5s (2 attempts); last error: ssh: connect to host \
                     h port 22: No route to host"
                .into(),
        };
        assert!(unreachable.is_unreachable());
        let there_but_not_usable = [
            SshError::ConnectionRefused {
                host: "root@h:22".into(),
                detail: "Connection refused".into(),
            },
            SshError::LoginRefused {
                host: "deploy@h:22".into(),
                user: "deploy".into(),
                ssh_said: "deploy@h: Permission denied (publickey).".into(),
                retried_for: None,
            },
            SshError::HostKeyChanged {
                host: "root@h:22".into(),
                expected_fingerprint: "SHA256:old".into(),
                presented_fingerprint: "SHA256:new".into(),
            },
            SshError::BastionConnect {
                host: "root@h:22".into(),
                bastion: "jump@b:22".into(),
                detail: "No route to host".into(),
            },
            SshError::BastionLoginRefused {
                host: "root@h:22".into(),
                bastion: "jump@b:22".into(),
                ssh_said: "Permission denied".into(),
            },
            SshError::Connect {
                host: "root@h:22".into(),
                detail: "the SSH connection was lost".into(),
            },
            SshError::SudoNeedsPassword {
                host: "deploy@h:22".into(),
                user: "deploy".into(),
                detail: "sudo: a password is required".into(),
            },
        ];
        for e in there_but_not_usable {
            assert!(!e.is_unreachable(), "{e:?}");
        }
    }

    #[test]
    fn a_refused_login_says_who_and_for_how_long_it_was_retried() {
        let refused = |retried_for| SshError::LoginRefused {
            host: "deploy@h:22".into(),
            user: "deploy".into(),
            ssh_said: "deploy@h: Permission denied (publickey).".into(),
            retried_for,
        };
        assert_eq!(
            refused(None).to_string(),
            "cannot connect to deploy@h:22: the host refused the login of user deploy \
             (deploy@h: Permission denied (publickey).)"
        );
        assert_eq!(
            refused(Some(Duration::from_secs(30))).to_string(),
            "cannot connect to deploy@h:22: the host refused the login of user deploy \
             (deploy@h: Permission denied (publickey).); still refused after retrying for 30s"
        );
        assert!(refused(None).is_login_refused());
    }

    #[test]
    fn a_sudo_password_prompt_names_the_user() {
        let sudo = SshError::SudoNeedsPassword {
            host: "deploy@h:22".into(),
            user: "deploy".into(),
            detail: "sudo: a password is required".into(),
        };
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
