//! The steps create and update share: prepare a host, install the leader,
//! join a controller.

use std::collections::BTreeMap;
use std::sync::Arc;

use mke_ssh::Host;

use super::{install_flags, ClusterPlan, CONTROLLER_TOKEN_EXPIRY};
use crate::ops::phase::connect::connect_controllers;
use crate::ops::phase::lock::{self, release_all, HostLock, LockWatch};
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::phase::{configure, join, marker, service, stage};
use crate::ops::{Cancel, ControllerHost, OpError, Step};

/// The controllers an operation works on: connected, locked and probed.
pub struct Opened {
    pub hosts: BTreeMap<String, Arc<Host>>,
    pub facts: BTreeMap<String, HostFacts>,
    pub locked: Locked,
}

/// The locks an operation holds, and what watches them.
pub struct Locked {
    locks: Vec<HostLock>,
    /// Cancelled on Ctrl-C or when a lock is taken from this run.
    pub watch: LockWatch,
}

/// The prologue of create and update: connect to every controller (the
/// host keys presented are recorded even when one fails), take their locks,
/// and probe them.
pub async fn open(
    rt: &crate::ops::Runtime,
    cancel: &Cancel,
    plan: &ClusterPlan,
    host_keys: &mut BTreeMap<String, String>,
) -> Result<Opened, OpError> {
    let (connected, all_answered) = connect_controllers(rt, &plan.controllers, rt.patient()).await;
    *host_keys = connected.host_keys.clone();
    all_answered?;
    let hosts = connected.hosts;
    let locks = rt.lock_all(hosts.values()).await?;
    let watch = lock::watch(cancel, &locks);
    match probe::probe_each(rt, &hosts).await {
        Ok(facts) => Ok(Opened {
            hosts,
            facts,
            locked: Locked { locks, watch },
        }),
        Err(e) => {
            release_all(locks).await;
            Err(e)
        }
    }
}

impl Locked {
    /// Releases the locks; an error that came from a lost lock says so.
    pub async fn close<T>(self, result: Result<T, OpError>) -> Result<T, OpError> {
        release_all(self.locks).await;
        result.map_err(|e| self.watch.explain(e))
    }
}

/// Stage k0s and write `k0s.yaml` on a controller that is not installed yet.
pub async fn prepare(
    cancel: &Cancel,
    host: &Arc<Host>,
    facts: &HostFacts,
    plan: &ClusterPlan,
    c: &ControllerHost,
) -> Result<(), OpError> {
    stage(cancel, host, facts, plan).await?;
    configure::write_config(host, &plan.k0s_config, c.private_address.as_deref()).await
}

/// Puts the plan's k0s on a controller.
pub async fn stage(
    cancel: &Cancel,
    host: &Arc<Host>,
    facts: &HostFacts,
    plan: &ClusterPlan,
) -> Result<(), OpError> {
    stage::stage_k0s(
        cancel,
        host,
        facts,
        &plan.version,
        &plan.source,
        service::READY_TIMEOUT,
    )
    .await?;
    Ok(())
}

/// Installs and starts the first controller; returns the cluster id (the
/// UID of `kube-system`).
pub async fn install_leader(
    cancel: &Cancel,
    host: &Host,
    plan: &ClusterPlan,
    c: &ControllerHost,
) -> Result<String, OpError> {
    let step = Step::start(host.name(), "install leader controller");
    service::install(host, &install_flags(c)).await?;
    service::start(host).await?;
    service::wait_controller_ready(cancel, host).await?;
    let uid = host
        .check(&mke_ssh::Command::new(mke_k0s::cli::kube_system_uid()))
        .await?
        .trim()
        .to_string();
    marker::write_marker(host, &plan.marker(&uid)).await?;
    step.done();
    Ok(uid)
}

/// Joins one controller through `anchor`, a running controller.
pub async fn join_controller(
    cancel: &Cancel,
    anchor: &Host,
    host: &Host,
    plan: &ClusterPlan,
    c: &ControllerHost,
    id: &str,
) -> Result<(), OpError> {
    let step = Step::start(host.name(), "join controller");
    join::join(
        anchor,
        host,
        &install_flags(c),
        CONTROLLER_TOKEN_EXPIRY,
        service::wait_controller_ready(cancel, host),
    )
    .await?;
    marker::write_marker(host, &plan.marker(id)).await?;
    step.done();
    Ok(())
}
