//! Phase `connect`: reach hosts over SSH through the shared pool. A host
//! without a pinned key is trusted on first use; the key it presented is
//! handed back so the resource records it.

use mke_ssh::{ConnectPolicy, Host};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ops::{ControllerHost, OpError, Runtime, Step};

/// The controllers that answered, and the host key each presented.
#[derive(Default)]
pub struct Reached {
    pub hosts: BTreeMap<String, Arc<Host>>,
    pub host_keys: BTreeMap<String, String>,
}

/// Connects to every controller in parallel. The keys of the hosts that
/// answered come back even when another one failed.
pub async fn connect_controllers(
    rt: &Runtime,
    controllers: &BTreeMap<String, ControllerHost>,
    policy: ConnectPolicy,
) -> (Reached, Result<(), OpError>) {
    let items: Vec<(String, ControllerHost)> = controllers.clone().into_iter().collect();
    let results = rt
        .each(items, |(key, c)| async move {
            let step = Step::start(&c.address, "connect");
            let r = rt.connect(&c.target(), policy).await;
            if r.is_ok() {
                step.done();
            }
            (key, r)
        })
        .await;
    let mut reached = Reached::default();
    let mut first_error = None;
    for (key, r) in results {
        match r {
            Ok(h) => {
                reached
                    .host_keys
                    .insert(key.clone(), h.host_key().to_string());
                reached.hosts.insert(key, h);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let result = match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    };
    (reached, result)
}

/// The first controller that answers, in key order. The host key of the
/// controller reached is added to `host_keys`. Only a controller whose
/// address does not answer at all is passed over for the next one; any other
/// failure (a refused login, a changed host key, a refused connection, a
/// failing bastion) is the answer.
pub async fn first_controller(
    rt: &Runtime,
    controllers: &BTreeMap<String, ControllerHost>,
    policy: ConnectPolicy,
    host_keys: &mut BTreeMap<String, String>,
    node_address: &str,
) -> Result<Arc<Host>, OpError> {
    let mut last = None;
    for (key, c) in controllers {
        match rt.connect(&c.target(), policy).await {
            Ok(h) => {
                host_keys.insert(key.clone(), h.host_key().to_string());
                return Ok(h);
            }
            Err(e) if e.is_unreachable() => {
                tracing::warn!(
                    controller = key.as_str(),
                    error = %e,
                    "controller {key} does not answer; trying the next one"
                );
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        OpError::host(
            node_address,
            "no controller given",
            "Set `controllers` to `mke_cluster.<name>.controllers`.",
        )
    }))
}
