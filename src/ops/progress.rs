//! Progress a person can follow in the logs (one line when a phase starts on
//! a host, one when it ends, with its elapsed time), waits that say what
//! they wait for, and the resource-wide time limit.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Cancel, OpError, Partial};

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

/// Polls `check` until it returns `Some`, logging every 10 s what it waits
/// for; fails at `timeout` or when the run is cancelled. The interval starts
/// at 200 ms and doubles up to 2 s.
pub async fn wait_for<T, F, Fut>(
    cancel: &Cancel,
    host: &str,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<T, OpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, OpError>>,
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
            _ = cancel.cancelled() => return Err(OpError::Cancelled { what: format!("waiting for {what} on {host}") }),
            _ = tokio::time::sleep(interval) => {}
        }
        interval = (interval * 2).min(Duration::from_secs(2));
    }
}

/// Runs `work` (a transfer, a drain: one long command) unless the run is
/// cancelled first. On cancellation `work` is dropped: a command reading its
/// stdin (an upload) sees the end of its input, but a command that only
/// writes keeps running on the host until it ends or is stopped there (see
/// `phase::drain`); what the host reached stays.
pub async fn unless_cancelled<T>(
    cancel: &Cancel,
    host: &str,
    what: &str,
    work: impl Future<Output = Result<T, OpError>>,
) -> Result<T, OpError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(OpError::Cancelled { what: format!("{what} on {host}") }),
        done = work => done,
    }
}

/// Runs an operation within the resource's time limit, keeping what it
/// reached: `work` records into the value it is given as it goes, and that
/// value comes back whether it finished, failed or ran out of time.
pub async fn within_limit_keeping<T: Default>(
    limit: Duration,
    host: &str,
    what: &str,
    work: impl AsyncFnOnce(&mut T) -> Result<(), OpError>,
) -> Result<T, Partial<T>> {
    let mut reached = T::default();
    let result = within_limit(limit, host, what, work(&mut reached)).await;
    match result {
        Ok(()) => Ok(reached),
        Err(e) => Err(Partial::new(reached, e)),
    }
}

/// Runs `work` within the resource's time limit (`timeouts`).
pub async fn within_limit<T>(
    limit: Duration,
    host: &str,
    what: &str,
    work: impl Future<Output = Result<T, OpError>>,
) -> Result<T, OpError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(OpError::Timeout {
            host: host.to_string(),
            what: what.to_string(),
            after: limit,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancelled_run_stops_long_work_and_says_where() {
        let cancel = Cancel::new();
        let stopper = cancel.clone();
        let work = async {
            stopper.cancel();
            std::future::pending::<Result<(), OpError>>().await
        };
        let e = unless_cancelled(&cancel, "root@10.0.0.7:22", "draining node w1", work)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "stopped: Terraform asked the provider to stop (Ctrl-C) while draining node w1 on root@10.0.0.7:22"
        );
    }

    #[tokio::test]
    async fn work_that_finishes_keeps_its_result() {
        let cancel = Cancel::new();
        let done = unless_cancelled(&cancel, "h", "x", async { Ok::<u8, OpError>(7) }).await;
        assert_eq!(done.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_run_cancelled_before_the_work_never_starts_it() {
        let cancel = Cancel::new();
        cancel.cancel();
        let started = std::sync::atomic::AtomicBool::new(false);
        let work = async {
            started.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), OpError>(())
        };
        assert!(unless_cancelled(&cancel, "h", "x", work).await.is_err());
        assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
    }
}
