//! Waiting for Nodes, shared: while workers join or restart, one poller per controller lists
//! the cluster's Nodes and every waiter of this process reads that listing, so that an apply
//! of 100 workers polls the controller once per interval, not 100 times. The poller runs only
//! while someone waits, and a waiter trusts only listings taken after it began to wait.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mke_k0s::NodeInfo;
use mke_ssh::{Command, Host};
use tokio::sync::watch;

use super::phase::registration::get_node;
use super::{Cancel, OpError};

/// The first listing waits this long after a waiter arrived, so that waiters arriving
/// together share it; the interval then doubles up to [`LONGEST_INTERVAL`].
const SHORTEST_INTERVAL: Duration = Duration::from_millis(200);
const LONGEST_INTERVAL: Duration = Duration::from_secs(2);
/// A wait says it is still waiting this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// One listing of a controller's Nodes; `None` when the listing failed (each waiter then asks
/// for its Node itself, to fail with its own typed error or to wait on).
type Listing = Option<Arc<BTreeMap<String, NodeInfo>>>;

#[derive(Default)]
pub struct NodeWatch {
    pollers: Arc<Mutex<BTreeMap<String, Poller>>>,
}

struct Poller {
    listings: watch::Sender<Listing>,
    /// Set by each new waiter: the poller goes back to its shortest interval.
    hurry: Arc<AtomicBool>,
}

impl NodeWatch {
    /// Waits until `accept` takes the Node named `name` as the controller lists it (`None`
    /// while it is not registered), within `timeout`.
    pub async fn wait<T>(
        &self,
        cancel: &Cancel,
        controller: &Arc<Host>,
        name: &str,
        what: &str,
        timeout: Duration,
        mut accept: impl FnMut(Option<&NodeInfo>) -> Option<T>,
    ) -> Result<T, OpError> {
        let mut listings = self.subscribe(controller);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_progress = started;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    return Err(OpError::Cancelled {
                        what: format!("waiting for {what} on {}", controller.name()),
                    });
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(OpError::Timeout {
                        host: controller.name().to_string(),
                        what: what.to_string(),
                        after: timeout,
                    });
                }
                changed = listings.changed() => {
                    if changed.is_err() {
                        // Cannot happen while this waiter holds a receiver; resubscribing
                        // keeps the wait correct if it ever does.
                        listings = self.subscribe(controller);
                        continue;
                    }
                }
            }
            let listing = listings.borrow_and_update().clone();
            let node = match listing {
                Some(nodes) => nodes.get(name).cloned(),
                None => get_node(controller, name).await?,
            };
            if let Some(found) = accept(node.as_ref()) {
                return Ok(found);
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                tracing::info!(
                    host = controller.name(),
                    "{}: still waiting for {what} ({}s)",
                    controller.name(),
                    started.elapsed().as_secs()
                );
                last_progress = Instant::now();
            }
        }
    }

    /// A receiver of the controller's listings that has seen none yet; starts the poller if
    /// none runs.
    fn subscribe(&self, controller: &Arc<Host>) -> watch::Receiver<Listing> {
        let mut pollers = self.pollers.lock().expect("node pollers");
        if let Some(poller) = pollers.get(controller.name()) {
            poller.hurry.store(true, Ordering::Relaxed);
            let mut receiver = poller.listings.subscribe();
            receiver.mark_unchanged();
            return receiver;
        }
        let (listings, receiver) = watch::channel(None);
        let hurry = Arc::new(AtomicBool::new(false));
        tokio::spawn(poll(
            self.pollers.clone(),
            controller.clone(),
            listings.clone(),
            hurry.clone(),
        ));
        pollers.insert(controller.name().to_string(), Poller { listings, hurry });
        receiver
    }
}

/// Lists the controller's Nodes at growing intervals while anyone waits, then removes itself.
async fn poll(
    pollers: Arc<Mutex<BTreeMap<String, Poller>>>,
    controller: Arc<Host>,
    listings: watch::Sender<Listing>,
    hurry: Arc<AtomicBool>,
) {
    let mut interval = SHORTEST_INTERVAL;
    loop {
        tokio::time::sleep(interval).await;
        {
            // Under the map's lock, so that no waiter subscribes to a poller that is leaving.
            let mut pollers = pollers.lock().expect("node pollers");
            if listings.receiver_count() == 0 {
                pollers.remove(controller.name());
                return;
            }
        }
        let listing = list_nodes(&controller).await;
        listings.send_replace(listing);
        interval = if hurry.swap(false, Ordering::Relaxed) {
            SHORTEST_INTERVAL
        } else {
            (interval * 2).min(LONGEST_INTERVAL)
        };
    }
}

async fn list_nodes(controller: &Host) -> Listing {
    let out = controller
        .run(&Command::new(mke_k0s::cli::kubectl_get_nodes_json()))
        .await
        .ok()?;
    if out.status != 0 {
        tracing::debug!(
            host = controller.name(),
            stderr = out.stderr.trim(),
            "listing nodes failed"
        );
        return None;
    }
    mke_k0s::node::parse_node_list(&out.stdout)
        .ok()
        .map(Arc::new)
}
