//! Create: connect the node → connect the first controller that answers →
//! lock → probe → check the controller's cluster → preflight → stage k0s →
//! write the marker → join (token, install, start, Ready, invalidate,
//! reinstall, remove the token).

use std::sync::Arc;
use std::time::Duration;

use mke_ssh::Host;

use super::{node_name, NodePlan, NodeReached, READY_TIMEOUT};
use crate::ops::controller_view::ControllerView;
use crate::ops::phase::connect::first_controller;
use crate::ops::phase::lock::{self, release_all};
use crate::ops::phase::marker;
use crate::ops::phase::preflight::{preflight, Expected};
use crate::ops::phase::registration::wait_node_ready;
use crate::ops::phase::{join, probe, stage};
use crate::ops::{within_limit_keeping, Cancel, HostStatus, OpError, Partial, Runtime, Step};

const WORKER_TOKEN_EXPIRY: Duration = Duration::from_secs(600);

pub async fn create(
    rt: &Runtime,
    cancel: &Cancel,
    plan: &NodePlan,
    limit: Duration,
) -> Result<NodeReached, Partial<NodeReached>> {
    rt.node_lists().forget().await;
    within_limit_keeping(limit, &plan.address, "create", async |reached| {
        run(rt, cancel, plan, reached).await
    })
    .await
}

/// The name of the cluster `controller` serves, which must be `cluster_id`.
fn cluster_of(
    controller: &Host,
    view: &ControllerView,
    plan: &NodePlan,
) -> Result<String, OpError> {
    match view.marker.clone() {
        Some(m) if m.id == plan.cluster_id => Ok(m.cluster),
        Some(m) => Err(OpError::host(
            controller.name(),
            format!(
                "this controller belongs to cluster {} (id {}), not to cluster_id {}",
                m.cluster, m.id, plan.cluster_id
            ),
            "Pass the controllers of the cluster the node should join.",
        )),
        None => Err(OpError::host(
            controller.name(),
            "this host is not a controller installed by the mke provider",
            "Pass `mke_cluster.<name>.controllers`.",
        )),
    }
}

/// A worker may not run a newer k0s than its controllers (Kubernetes'
/// version skew policy): checked before anything is written to the node.
fn check_skew(view: &ControllerView, plan: &NodePlan) -> Result<(), OpError> {
    let Some(running) = &view.version else {
        // A controller whose status does not answer fails the join later, with its own message.
        return Ok(());
    };
    let (Ok(worker), Ok(control_plane)) = (
        mke_k0s::parse_k0s_version(&plan.version),
        mke_k0s::parse_k0s_version(running),
    ) else {
        return Ok(());
    };
    if worker > control_plane {
        return Err(OpError::host(
            &plan.address,
            format!(
                "k0s_version {} is newer than the controllers' {}: a worker may not run a newer \
                 Kubernetes than its control plane; nothing was changed on the node",
                plan.version, running
            ),
            "Upgrade the cluster first (pass `mke_cluster.<name>.k0s_version` to the node), then \
             the node.",
        ));
    }
    Ok(())
}

async fn run(
    rt: &Runtime,
    cancel: &Cancel,
    plan: &NodePlan,
    reached: &mut NodeReached,
) -> Result<(), OpError> {
    let step = Step::start(&plan.address, "connect");
    let host = rt.connect(&plan.target(), rt.patient()).await?;
    if plan.host_key.is_none() {
        reached.host_key = Some(host.host_key().to_string());
    }
    step.done();
    let controller = first_controller(
        rt,
        &plan.controllers,
        rt.patient(),
        &mut reached.controller_keys,
        &plan.address,
    )
    .await?;
    let locks = vec![rt.lock(&host).await?];
    // Ctrl-C, or the lock taken from this run, stops every wait and transfer.
    let watch = lock::watch(cancel, &locks);
    let result = join_node(rt, watch.cancel(), &host, &controller, plan, reached).await;
    release_all(locks).await;
    result.map_err(|e| watch.explain(e))
}

async fn join_node(
    rt: &Runtime,
    cancel: &Cancel,
    host: &Arc<Host>,
    controller: &Arc<Host>,
    plan: &NodePlan,
    reached: &mut NodeReached,
) -> Result<(), OpError> {
    let facts = probe::probe(host).await?;
    let view = rt.controller_views().get(controller).await?;
    let cluster_name = cluster_of(controller, &view, plan)?;
    check_skew(&view, plan)?;
    preflight(host, &facts, Expected::NewWorker(plan.claim()))?;
    let name = node_name(&facts, host.name())?;
    // The marker first: whatever happens next, the host is known to be this node's.
    reached.changed = true;
    marker::write_marker(host, &plan.marker(&cluster_name)).await?;
    stage::stage_k0s(
        cancel,
        host,
        &facts,
        &plan.version,
        &plan.source,
        READY_TIMEOUT,
    )
    .await?;

    let step = Step::start(host.name(), "join worker");
    join::join(
        controller,
        host,
        &plan.install_flags(),
        WORKER_TOKEN_EXPIRY,
        wait_node_ready(cancel, rt.node_watch(), controller, &name, READY_TIMEOUT),
    )
    .await?;
    step.done();
    reached.node_name = Some(name);
    reached.status = Some(HostStatus::Running);
    Ok(())
}
