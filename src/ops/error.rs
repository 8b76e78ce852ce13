//! What can go wrong in host work, as typed values. The resource edge turns
//! them into diagnostics and adds what a Terraform user can do about them.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Ssh(#[from] mke_ssh::SshError),
    /// A host answered, but not as the operation needs: `message` says what
    /// was found, `hint` the way out.
    #[error("{host}: {message}")]
    Host {
        host: String,
        message: String,
        hint: String,
    },
    #[error("the provider is not configured: Terraform did not call ConfigureProvider")]
    NotConfigured,
    #[error("{what} on {host} did not finish within {}", mke_ssh::human_duration(*after))]
    Timeout {
        host: String,
        what: String,
        after: Duration,
    },
    #[error("stopped: Terraform asked the provider to stop (Ctrl-C) while {what}")]
    Cancelled { what: String },
    #[error("cannot read the local k0s binary {path}: {source}")]
    LocalBinary {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host}: removing controller {key} failed: {source}")]
    RemovingController {
        host: String,
        key: String,
        source: Box<OpError>,
    },
    /// A backup archive on this machine that cannot be read or would not restore.
    #[error("backup archive {path}: {message}")]
    BackupArchive { path: String, message: String },
    /// A file on the machine running the provider (a backup archive) could
    /// not be written or read.
    #[error("cannot {action} {path}: {source}")]
    LocalFile {
        path: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// The plan left a value unknown that apply needs.
    #[error("{resource}: values the plan left unknown are still unknown at apply")]
    UnknownAtApply { resource: String },
}

impl OpError {
    pub fn host(host: &str, message: impl Into<String>, hint: impl Into<String>) -> OpError {
        OpError::Host {
            host: host.to_string(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn local_file(
        path: &std::path::Path,
        action: impl Into<String>,
        source: std::io::Error,
    ) -> OpError {
        OpError::LocalFile {
            path: path.display().to_string(),
            action: action.into(),
            source,
        }
    }

    /// True when the host did not answer at all (as opposed to answering
    /// and refusing, or failing a command).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, OpError::Ssh(e) if e.is_unreachable())
    }
}

/// An operation that failed after changing some hosts: `reached` is what the
/// hosts hold now, so the resource can save it and the next apply goes on
/// from there.
#[derive(Debug)]
pub struct Partial<T> {
    pub reached: T,
    pub error: OpError,
}

impl<T> Partial<T> {
    pub fn new(reached: T, error: OpError) -> Partial<T> {
        Partial { reached, error }
    }
}

/// Something the user should know that does not fail the operation.
#[derive(Debug)]
pub struct Warning {
    pub summary: String,
    /// The error behind it, if any: shown first, with what to do about it.
    pub cause: Option<OpError>,
    pub detail: String,
}

impl Warning {
    pub fn new(summary: impl Into<String>, detail: impl Into<String>) -> Warning {
        Warning {
            summary: summary.into(),
            cause: None,
            detail: detail.into(),
        }
    }

    /// A warning about `cause`; `detail` says what it means for this operation.
    pub fn because(
        summary: impl Into<String>,
        cause: OpError,
        detail: impl Into<String>,
    ) -> Warning {
        Warning {
            summary: summary.into(),
            cause: Some(cause),
            detail: detail.into(),
        }
    }
}
