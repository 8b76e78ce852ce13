//! Host work: the phases each resource runs over SSH, one named step per
//! phase (as k0sctl does), with typed errors that become diagnostics only
//! at the resource edge.

pub mod cluster;
pub mod hosts;
pub mod join;
pub mod kubeconfig;
pub mod node;
pub mod probe;
pub mod stage;

use std::time::{Duration, Instant};

use tfplugin::Diagnostics;

pub use hosts::Hosts;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Ssh(#[from] mke_ssh::SshError),
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
}

impl OpError {
    pub fn host(host: &str, message: impl Into<String>, hint: impl Into<String>) -> OpError {
        OpError::Host {
            host: host.to_string(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// What a user can do about it.
    pub fn hint(&self) -> String {
        match self {
            OpError::Ssh(e) => crate::resources::advice::ssh(e),
            OpError::Host { hint, .. } => hint.clone(),
            OpError::NotConfigured => "Add a provider \"mke\" block.".into(),
            OpError::Timeout { .. } => "Raise the resource's `timeouts`, or check the host's k0s \
                                        logs (`journalctl -u k0scontroller` / `k0sworker`)."
                .into(),
            OpError::Cancelled { .. } => "Run `terraform apply` again to finish.".into(),
            OpError::LocalBinary { .. } => "Check `k0s_binary_path`.".into(),
        }
    }

    pub fn to_diagnostics(&self, summary: &str) -> Diagnostics {
        let mut d = Diagnostics::new();
        let hint = self.hint();
        if hint.is_empty() {
            d.error(summary, self.to_string());
        } else {
            d.error(summary, format!("{self}\n\n{hint}"));
        }
        d
    }
}

/// Logs one phase on one host at INFO with its elapsed time.
pub struct Step {
    host: String,
    phase: &'static str,
    started: Instant,
}

impl Step {
    pub fn start(host: &str, phase: &'static str) -> Step {
        tracing::info!(host = host, phase = phase, "{host}: {phase}…");
        Step {
            host: host.to_string(),
            phase,
            started: Instant::now(),
        }
    }

    pub fn done(self) {
        let elapsed = self.started.elapsed();
        tracing::info!(
            host = self.host.as_str(),
            phase = self.phase,
            elapsed_ms = elapsed.as_millis() as u64,
            "{}: {} done in {:.1}s",
            self.host,
            self.phase,
            elapsed.as_secs_f64()
        );
    }
}

/// Polls `check` every `interval` until it returns `Some`, logging every 10 s
/// what it waits for; fails at `timeout` or when the run is cancelled.
pub async fn wait_for<T, F, Fut>(
    ctx: &tfplugin::Ctx,
    host: &str,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<T, OpError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, OpError>>,
{
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut interval = Duration::from_millis(200);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if started.elapsed() >= timeout {
            return Err(OpError::Timeout {
                host: host.to_string(),
                what: what.to_string(),
                after: timeout,
            });
        }
        if last_log.elapsed() >= Duration::from_secs(10) {
            tracing::info!(
                host = host,
                "{host}: still waiting for {what} ({}s)",
                started.elapsed().as_secs()
            );
            last_log = Instant::now();
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled { what: format!("waiting for {what} on {host}") }),
            _ = tokio::time::sleep(interval) => {}
        }
        interval = (interval * 2).min(Duration::from_secs(2));
    }
}

/// Runs `work` within the resource's time limit (`timeouts`).
pub async fn within_limit(
    limit: Duration,
    host: &str,
    what: &str,
    work: impl std::future::Future<Output = Result<(), OpError>>,
) -> Result<(), OpError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(OpError::Timeout {
            host: host.to_string(),
            what: what.to_string(),
            after: limit,
        })
    })
}

pub(crate) fn succeeded(state: tfplugin::tfvalue::Value) -> tfplugin::StateOutcome {
    tfplugin::StateOutcome {
        state,
        private: Vec::new(),
        diagnostics: Diagnostics::new(),
    }
}

pub(crate) fn failed(prior: tfplugin::tfvalue::Value, d: Diagnostics) -> tfplugin::StateOutcome {
    tfplugin::StateOutcome {
        state: prior,
        private: Vec::new(),
        diagnostics: d,
    }
}
