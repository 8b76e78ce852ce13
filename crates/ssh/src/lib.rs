//! The provider's SSH layer: one multiplexed OpenSSH master connection per host, shared by every
//! resource of the provider process.
//!
//! Built on the system `ssh` client through the `openssh` crate with its `native-mux` feature:
//! each command opens a session by speaking the ControlMaster protocol on the master's socket from
//! Rust, instead of forking one more `ssh` process per command as `process-mux` does. With ten
//! hosts worked on at once that avoids a process (and its start-up time) per command, and the
//! client side of a command never reads the user's ssh configuration.
//!
//! Host keys are always checked: a pinned key is written to a known_hosts file of its own and
//! checked strictly; an unpinned host is trusted on first use and the key it presented is
//! reported back so that the caller can pin it from then on.
//!
//! With [`SshDefaults::persist`] set, the master of a pinned host outlives the process (OpenSSH's
//! ControlPersist) in a directory private to the user, and the next process reuses it instead of
//! logging in again.

mod command;
mod error;
mod host;
mod host_key;
mod master;
mod persist;
mod pool;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use command::{
    shell_quote, Command, Output, StreamedOutput, DEFAULT_COMMAND_TIMEOUT, STDERR_TAIL_LINES,
};
pub use error::{human_duration, SshError, Unanswered};
pub use host::Host;
pub use host_key::{fingerprint, normalize_host_key};
pub use pool::{ConnectPolicy, Pool};

/// A private key or other secret text. Printing it (Debug or Display) shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must hand it on.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The provider's `ssh` block: what every host uses unless its [`Target`] says otherwise.
#[derive(Debug, Clone)]
pub struct SshDefaults {
    pub user: String,
    pub port: u16,
    /// When `None`, ssh uses the agent (`SSH_AUTH_SOCK`) and the user's default identities.
    pub private_key: Option<Secret>,
    /// Upper bound of the deadline [`Pool::connect`] is given.
    pub connect_timeout: Duration,
    pub bastion: Option<Bastion>,
    /// How long the master connection of a host with a pinned key stays after its last use,
    /// after this process has exited too, so that the next process (the apply after a plan)
    /// reuses it instead of logging in again. A master is reused only for the same user,
    /// address, port, bastion, private keys and pinned host key, and only once it has answered;
    /// a host trusted on first use never reuses one. While it lives, any process of the same
    /// local user can run commands on the host through its socket.
    ///
    /// Zero (the default) ends every master with the pool that started it.
    pub persist: Duration,
    /// Where persisting masters keep their control sockets (created 0700; refused when other
    /// users can enter it). `None`: `$XDG_RUNTIME_DIR/mke-ssh`, else `$XDG_CACHE_HOME/mke-ssh`,
    /// else `~/.cache/mke-ssh`.
    pub control_dir: Option<PathBuf>,
}

impl Default for SshDefaults {
    fn default() -> SshDefaults {
        SshDefaults {
            user: "root".to_string(),
            port: 22,
            private_key: None,
            connect_timeout: Duration::from_secs(300),
            bastion: None,
            persist: Duration::ZERO,
            control_dir: None,
        }
    }
}

/// A jump host every connection goes through (what ssh calls ProxyJump).
#[derive(Debug, Clone)]
pub struct Bastion {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Falls back to [`SshDefaults::private_key`], then to the agent.
    pub private_key: Option<Secret>,
    /// Pinned when set; otherwise the bastion must already be in `~/.ssh/known_hosts`.
    pub host_key: Option<String>,
}

/// One host to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub address: String,
    /// Falls back to [`SshDefaults::port`].
    pub port: Option<u16>,
    /// Falls back to [`SshDefaults::user`].
    pub user: Option<String>,
    /// `<type> <base64> [comment]`; trusted on first use when `None`.
    pub host_key: Option<String>,
}

impl Target {
    pub fn new(address: impl Into<String>) -> Target {
        Target {
            address: address.into(),
            port: None,
            user: None,
            host_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        let defaults = SshDefaults {
            private_key: Some(secret),
            ..SshDefaults::default()
        };
        assert!(!format!("{defaults:?}").contains("BEGIN"));
    }
}
