//! Update: nothing on the hosts when only `controllers` or configuration-side
//! values changed. Otherwise connect → a controller → lock → probe → a new
//! version: cordon, drain, stage, stop, reinstall, start, Ready, uncordon;
//! a stopped node: start, Ready → a missing Node: wait for it to register,
//! else restart k0s → labels and taints → the unit carries them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mke_ssh::Host;

use super::{NodePlan, NodeReached, READY_TIMEOUT};
use crate::ops::phase::connect::first_controller;
use crate::ops::phase::lock::{self, release_all};
use crate::ops::phase::ownership::Owned;
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::phase::registration::{
    get_node, reconcile_labels_and_taints, wait_node_back, wait_registered, LabelsAndTaints,
};
use crate::ops::phase::{drain, marker, service, stage};
use crate::ops::{within_limit_keeping, Cancel, HostStatus, OpError, Partial, Runtime, Step};

/// A deleted Node object gets this long to come back before k0s is restarted.
const REREGISTER_GRACE: Duration = Duration::from_secs(60);

pub async fn update(
    rt: &Runtime,
    cancel: &Cancel,
    before: &NodePlan,
    after: &NodePlan,
    limit: Duration,
) -> Result<NodeReached, Partial<NodeReached>> {
    rt.node_lists().forget().await;
    within_limit_keeping(limit, &after.address, "update", async |reached| {
        run(rt, cancel, before, after, reached).await
    })
    .await
}

async fn run(
    rt: &Runtime,
    cancel: &Cancel,
    before: &NodePlan,
    after: &NodePlan,
    reached: &mut NodeReached,
) -> Result<(), OpError> {
    let labels_changed = before.labels != after.labels || before.taints != after.taints;
    let upgrade = before.version != after.version;
    let running = before.status.as_deref().unwrap_or("running") == "running";
    if !labels_changed && !upgrade && running {
        // Only `controllers` or configuration-side values changed: recorded only.
        return Ok(());
    }
    let host = rt.connect(&after.target(), rt.patient()).await?;
    let controller = first_controller(
        rt,
        &after.controllers,
        rt.patient(),
        &mut reached.controller_keys,
        &after.address,
    )
    .await?;
    let locks = vec![rt.lock(&host).await?];
    // Ctrl-C, or the lock taken from this run, stops every wait and transfer.
    let watch = lock::watch(cancel, &locks);
    let cancel = watch.cancel();
    let result = async {
        let facts = probe::probe(&host).await?;
        // Only this node's machine is stopped or reinstalled.
        if Owned::claim(host.clone(), &facts, &after.claim())?.is_none() {
            return Err(OpError::host(
                host.name(),
                "k0s is gone from this host",
                "Run `terraform apply` again: the refresh sees the node is gone and joins it anew.",
            ));
        }
        match (&facts.marker, &after.instance) {
            (Some(m), Some(instance)) if m.instance != *instance => {
                // A marker from before instance ids: it now names this resource.
                marker::write_marker(&host, &after.marker(&m.cluster)).await?;
            }
            (None, Some(_)) => {
                // An adopted node (its CA matched): the marker goes first,
                // before this first change.
                let name = match marker::read_marker(&controller).await? {
                    Some(m) => m.cluster,
                    // The cluster is adopted too, and unchanged so far: the
                    // name in its ClusterConfig.
                    None => probe::probe(&controller)
                        .await?
                        .config
                        .and_then(|c| mke_k0s::observed_settings(&c).ok())
                        .and_then(|s| s.name)
                        .unwrap_or_default(),
                };
                marker::write_marker(&host, &after.marker(&name)).await?;
                reached.changed = true;
            }
            _ => {}
        }
        if upgrade {
            upgrade_worker(rt, cancel, &host, &controller, &facts, after).await?;
        } else if !facts.running() {
            let step = Step::start(host.name(), "start stopped worker");
            let last = heartbeat(&controller, before.name()).await?;
            service::start(&host).await?;
            wait_node_back(
                cancel,
                rt.node_watch(),
                &host,
                &controller,
                before.name(),
                last,
                READY_TIMEOUT,
            )
            .await?;
            step.done();
        }
        let info = registered(rt, cancel, &host, &controller, before.name()).await?;
        let had_labels: BTreeMap<String, String> = before
            .labels
            .keys()
            .filter_map(|k| info.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        let had_taints: Vec<String> = info
            .taints
            .iter()
            .map(|t| t.to_string())
            .filter(|t| before.taints.contains(t))
            .collect();
        reconcile_labels_and_taints(
            &controller,
            before.name(),
            LabelsAndTaints {
                want_labels: &after.labels,
                had_labels: &had_labels,
                want_taints: &after.taints,
                had_taints: &had_taints,
            },
        )
        .await?;
        if labels_changed && !upgrade {
            // The unit carries the current labels and taints, so a Node that
            // registers again gets them. k0s reads them at start only: no restart.
            let mut flags = after.install_flags();
            flags.force = true;
            service::install(&host, &flags).await?;
        }
        reached.status = Some(HostStatus::Running);
        Ok(())
    }
    .await;
    release_all(locks).await;
    result.map_err(|e| watch.explain(e))
}

async fn upgrade_worker(
    rt: &Runtime,
    cancel: &Cancel,
    host: &Arc<Host>,
    controller: &Arc<Host>,
    facts: &HostFacts,
    after: &NodePlan,
) -> Result<(), OpError> {
    let name = after.name();
    let step = Step::start(host.name(), "drain and upgrade worker");
    let drains = rt.drains();
    let _permit = drains.acquire().await.expect("drain semaphore");
    let last = heartbeat(controller, name).await?;
    drain::cordon(controller, name).await?;
    drain::drain(cancel, controller, name, after.drain_timeout).await?;
    stage::stage_k0s(
        cancel,
        host,
        facts,
        &after.version,
        &after.source,
        READY_TIMEOUT,
    )
    .await?;
    service::stop(host).await?;
    let mut flags = after.install_flags();
    flags.force = true;
    service::install(host, &flags).await?;
    service::start(host).await?;
    wait_node_back(
        cancel,
        rt.node_watch(),
        host,
        controller,
        name,
        last,
        READY_TIMEOUT,
    )
    .await?;
    drain::uncordon(controller, name).await?;
    step.done();
    Ok(())
}

/// The Node's last Ready heartbeat, read before a stop so that the wait after
/// the start can tell a fresh one.
async fn heartbeat(controller: &Host, name: &str) -> Result<Option<i64>, OpError> {
    Ok(get_node(controller, name)
        .await?
        .and_then(|n| n.ready_heartbeat))
}

/// The Node object; when it is missing, it gets a grace period to register
/// again, then k0s is restarted (a kubelet registers at start only).
async fn registered(
    rt: &Runtime,
    cancel: &Cancel,
    host: &Host,
    controller: &Arc<Host>,
    name: &str,
) -> Result<mke_k0s::NodeInfo, OpError> {
    if let Some(info) = get_node(controller, name).await? {
        return Ok(info);
    }
    let step = Step::start(host.name(), "wait for the Node to register again");
    let nodes = rt.node_watch();
    let info = match wait_registered(cancel, nodes, controller, name, REREGISTER_GRACE).await {
        Ok(n) => n,
        Err(OpError::Timeout { .. }) => {
            service::stop(host).await?;
            service::start(host).await?;
            wait_node_back(cancel, nodes, host, controller, name, None, READY_TIMEOUT).await?
        }
        Err(e) => return Err(e),
    };
    step.done();
    Ok(info)
}
