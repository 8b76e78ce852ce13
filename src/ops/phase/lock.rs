//! Phase `lock`: one Terraform run at a time per host. The lock is a file on
//! the host holding "owner epoch"; the owner refreshes it every 10 s, and a
//! lock not refreshed for 30 s belongs to a run that died and is taken over.
//! Resources of one run share the lock of their provider process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mke_ssh::{Command, Host};

use crate::ops::OpError;

const LOCK_PATH: &str = "/run/lock/mke-provider.lock";
/// A lock not refreshed for this long belongs to a run that died.
const LOCK_STALE_SECS: u64 = 30;
const LOCK_REFRESH: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Locks {
    /// Hosts this process holds the lock of, with how many operations use it.
    held: Mutex<HashMap<String, (Arc<Host>, usize)>>,
    refresher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Takes the per-host lock, so that a second concurrent run fails with a
/// clear message instead of interleaving commands. Resources of one run
/// share the lock of their provider process.
pub async fn take(locks: &Arc<Locks>, host: &Arc<Host>) -> Result<HostLock, OpError> {
    let key = host.name().to_string();
    {
        let mut held = locks.held.lock().expect("lock table");
        if let Some((_, count)) = held.get_mut(&key) {
            *count += 1;
            return Ok(HostLock {
                key,
                locks: locks.clone(),
            });
        }
    }
    let owner = lock_owner();
    let script = format!(
        "f={LOCK_PATH}; now=$(date +%s); mkdir -p /run/lock; \
         if [ -f \"$f\" ]; then read owner ts < \"$f\" || true; \
           if [ \"$owner\" != '{owner}' ] && [ $((now - ${{ts:-0}})) -lt {LOCK_STALE_SECS} ]; then \
             echo \"$owner\"; exit 3; fi; fi; \
         echo '{owner}' \"$now\" > \"$f.$$\" && mv -f \"$f.$$\" \"$f\""
    );
    let out = host
        .run(&Command::new(script).display("take the mke provider lock"))
        .await?;
    if out.status == 3 {
        return Err(OpError::host(
            host.name(),
            format!(
                "another Terraform run ({}) is working on this host right now",
                out.stdout.trim()
            ),
            "Wait for the other run to finish. A lock not refreshed for 30 seconds is \
             taken over, so a crashed run frees it by itself.",
        ));
    }
    if out.status != 0 {
        return Err(OpError::host(
            host.name(),
            format!("could not take the lock: {}", out.stderr.trim()),
            "Check that /run/lock is writable.",
        ));
    }
    locks
        .held
        .lock()
        .expect("lock table")
        .insert(key.clone(), (host.clone(), 1));
    start_refresher(locks, owner);
    Ok(HostLock {
        key,
        locks: locks.clone(),
    })
}

fn start_refresher(locks: &Arc<Locks>, owner: String) {
    let mut refresher = locks.refresher.lock().expect("refresher");
    if refresher.as_ref().is_some_and(|h| !h.is_finished()) {
        return;
    }
    let locks = locks.clone();
    *refresher = Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(LOCK_REFRESH).await;
            let hosts: Vec<Arc<Host>> = locks
                .held
                .lock()
                .expect("lock table")
                .values()
                .map(|(h, _)| h.clone())
                .collect();
            if hosts.is_empty() {
                return;
            }
            for host in hosts {
                let script = format!(
                    "f={LOCK_PATH}; read owner ts < \"$f\" 2>/dev/null; \
                     [ \"$owner\" = '{owner}' ] && echo '{owner}' \"$(date +%s)\" > \"$f\""
                );
                let _ = host
                    .run(&Command::new(script).display("refresh the mke provider lock"))
                    .await;
            }
        }
    }));
}

/// Held while an operation works on a host; the last holder removes the
/// lock file. Release it with [`HostLock::release`] so the next run does not
/// wait for the lock to go stale.
pub struct HostLock {
    key: String,
    locks: Arc<Locks>,
}

impl HostLock {
    fn take_last(&self) -> Option<Arc<Host>> {
        let mut held = self.locks.held.lock().expect("lock table");
        let (host, count) = held.get_mut(&self.key)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        let host = host.clone();
        held.remove(&self.key);
        Some(host)
    }

    pub async fn release(mut self) {
        let last = self.take_last();
        // Drop then finds nothing to release.
        self.key.clear();
        if let Some(host) = last {
            let owner = lock_owner();
            let script = format!(
                "f={LOCK_PATH}; read owner ts < \"$f\" 2>/dev/null; [ \"$owner\" = '{owner}' ] && rm -f \"$f\"; true"
            );
            let _ = host
                .run(&Command::new(script).display("release the mke provider lock"))
                .await;
        }
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // An operation that failed early: the lock goes stale in 30 s.
        let _ = self.take_last();
    }
}

/// Releases every lock of an operation.
pub async fn release_all(locks: Vec<HostLock>) {
    futures::future::join_all(locks.into_iter().map(HostLock::release)).await;
}

/// Takes the lock of every host, one after the other; on a refusal the
/// locks already taken are released.
pub async fn take_all<'a>(
    locks: &Arc<Locks>,
    hosts: impl IntoIterator<Item = &'a Arc<Host>>,
) -> Result<Vec<HostLock>, OpError> {
    let mut taken = Vec::new();
    for host in hosts {
        match take(locks, host).await {
            Ok(l) => taken.push(l),
            Err(e) => {
                release_all(taken).await;
                return Err(e);
            }
        }
    }
    Ok(taken)
}
