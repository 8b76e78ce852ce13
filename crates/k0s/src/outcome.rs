//! What the exit status and stderr of a k0s or kubectl command mean, so that the provider never
//! matches error text itself.
//!
//! The texts are those of k0s v1.29.3+k0s.0: cobra prints a command's error as `Error: <text>`
//! on stderr and exits 1, so every check looks for the text anywhere in stderr.

/// `k0s start` and `k0s stop` when neither `k0scontroller` nor `k0sworker` is installed
/// (k0s `pkg/install/service.go`: `k0s has not been installed as a service`).
pub const NOT_INSTALLED: &str = "not been installed";
/// `k0s start` when the unit is active, activating, or waiting to be restarted by systemd
/// (k0s `cmd/start/start.go`).
pub const ALREADY_RUNNING: &str = "already running";
/// `k0s stop` when the unit is inactive (k0s `cmd/stop/stop.go`).
pub const ALREADY_STOPPED: &str = "already stopped";
/// `k0s stop` (and `start`) when systemd reports the unit failed: `service in failed state`, from
/// the service library k0s uses. Nothing runs then, which is what a stop wants.
pub const FAILED_STATE: &str = "failed state";
/// `k0s etcd leave --peer-address=<addr>` when no member has that peer URL
/// (k0s `pkg/etcd/client.go`: `peer not found: https://<addr>:2380`).
pub const PEER_NOT_FOUND: &str = "peer not found";

/// What `k0s start` did, read by [`start_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// Exit status 0: systemd was asked to start the unit (k0s does not wait for readiness).
    Started,
    /// The unit was already running, or systemd was about to restart it.
    AlreadyRunning,
    /// No k0s unit is installed on the host.
    NotInstalled,
    /// Anything else; stderr says why.
    Failed,
}

impl StartOutcome {
    /// k0s runs (or is about to) afterwards.
    pub fn is_success(self) -> bool {
        matches!(self, StartOutcome::Started | StartOutcome::AlreadyRunning)
    }
}

/// Reads the exit status and stderr of [`crate::cli::start`]: `already running` is success.
pub fn start_outcome(status: i32, stderr: &str) -> StartOutcome {
    if status == 0 {
        StartOutcome::Started
    } else if stderr.contains(ALREADY_RUNNING) {
        StartOutcome::AlreadyRunning
    } else if stderr.contains(NOT_INSTALLED) {
        StartOutcome::NotInstalled
    } else {
        StartOutcome::Failed
    }
}

/// What `k0s stop` did, read by [`stop_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// Exit status 0: systemd stopped the unit.
    Stopped,
    /// The unit was not running.
    AlreadyStopped,
    /// systemd reports the unit failed: nothing runs.
    FailedState,
    /// No k0s unit is installed on the host. Not a success for a stop that expects k0s; one that
    /// removes k0s (see [`crate::cli::wipe_script`]) accepts it.
    NotInstalled,
    /// Anything else; stderr says why.
    Failed,
}

impl StopOutcome {
    /// k0s is installed and does not run afterwards.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            StopOutcome::Stopped | StopOutcome::AlreadyStopped | StopOutcome::FailedState
        )
    }
}

/// Reads the exit status and stderr of [`crate::cli::stop`]: `already stopped` and
/// `service in failed state` are success.
pub fn stop_outcome(status: i32, stderr: &str) -> StopOutcome {
    if status == 0 {
        StopOutcome::Stopped
    } else if stderr.contains(ALREADY_STOPPED) {
        StopOutcome::AlreadyStopped
    } else if stderr.contains(FAILED_STATE) {
        StopOutcome::FailedState
    } else if stderr.contains(NOT_INSTALLED) {
        StopOutcome::NotInstalled
    } else {
        StopOutcome::Failed
    }
}

/// What `k0s etcd leave` did, read by [`etcd_leave_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdLeaveOutcome {
    /// Exit status 0: the member was removed (k0s prints nothing).
    Left,
    /// No member has that peer address: it left before.
    PeerNotFound,
    /// Anything else; stderr says why.
    Failed,
}

impl EtcdLeaveOutcome {
    /// The member is not in the etcd cluster afterwards.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            EtcdLeaveOutcome::Left | EtcdLeaveOutcome::PeerNotFound
        )
    }
}

/// Reads the exit status and stderr of [`crate::cli::etcd_leave`]: `peer not found` is success,
/// so removing a controller twice is harmless.
pub fn etcd_leave_outcome(status: i32, stderr: &str) -> EtcdLeaveOutcome {
    if status == 0 {
        EtcdLeaveOutcome::Left
    } else if stderr.contains(PEER_NOT_FOUND) {
        EtcdLeaveOutcome::PeerNotFound
    } else {
        EtcdLeaveOutcome::Failed
    }
}

/// Whether a failed kubectl call failed because the object does not exist. kubectl prints the
/// API server's reason and message, as in `Error from server (NotFound): nodes "w1" not found`.
/// A shell's `…/k0s: not found`, when k0s itself is missing, reads the same way.
pub fn is_not_found(stderr: &str) -> bool {
    stderr.contains("NotFound") || stderr.contains("not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_succeeds_when_k0s_already_runs() {
        assert_eq!(start_outcome(0, ""), StartOutcome::Started);
        assert_eq!(
            start_outcome(1, "Error: already running\n"),
            StartOutcome::AlreadyRunning
        );
        assert!(start_outcome(1, "Error: already running\n").is_success());
        let not_installed = start_outcome(1, "Error: k0s has not been installed as a service\n");
        assert_eq!(not_installed, StartOutcome::NotInstalled);
        assert!(!not_installed.is_success());
        let failed = start_outcome(1, "Error: this command must be run as root\n");
        assert_eq!(failed, StartOutcome::Failed);
        assert!(!failed.is_success());
    }

    #[test]
    fn stop_succeeds_when_nothing_runs() {
        assert_eq!(stop_outcome(0, ""), StopOutcome::Stopped);
        assert_eq!(
            stop_outcome(1, "Error: already stopped\n"),
            StopOutcome::AlreadyStopped
        );
        assert_eq!(
            stop_outcome(1, "Error: service in failed state\n"),
            StopOutcome::FailedState
        );
        for stderr in [
            "Error: already stopped\n",
            "Error: service in failed state\n",
        ] {
            assert!(stop_outcome(1, stderr).is_success(), "{stderr}");
        }
        let not_installed = stop_outcome(1, "Error: k0s has not been installed as a service\n");
        assert_eq!(not_installed, StopOutcome::NotInstalled);
        assert!(!not_installed.is_success());
        assert!(!stop_outcome(1, "Error: this command must be run as root\n").is_success());
    }

    #[test]
    fn etcd_leave_of_a_gone_member_succeeds() {
        assert_eq!(etcd_leave_outcome(0, ""), EtcdLeaveOutcome::Left);
        let gone = etcd_leave_outcome(1, "Error: peer not found: https://10.0.0.12:2380\n");
        assert_eq!(gone, EtcdLeaveOutcome::PeerNotFound);
        assert!(gone.is_success());
        let failed = etcd_leave_outcome(1, "Error: context deadline exceeded\n");
        assert_eq!(failed, EtcdLeaveOutcome::Failed);
        assert!(!failed.is_success());
    }

    #[test]
    fn kubectl_not_found_is_told_from_other_failures() {
        assert!(is_not_found(
            "Error from server (NotFound): nodes \"w1\" not found\n"
        ));
        assert!(!is_not_found(
            "The connection to the server localhost:6443 was refused - did you specify the right host or port?\n"
        ));
        assert!(!is_not_found(
            "Error from server (Forbidden): nodes \"w1\" is forbidden\n"
        ));
    }
}
