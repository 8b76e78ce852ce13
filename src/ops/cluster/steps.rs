//! The steps create and update share: prepare a host, install the leader,
//! join a controller.

use std::sync::Arc;

use mke_ssh::Host;

use super::{install_flags, ClusterPlan, CONTROLLER_TOKEN_EXPIRY};
use crate::ops::phase::probe::HostFacts;
use crate::ops::phase::{configure, join, marker, service, stage};
use crate::ops::{Cancel, ControllerHost, OpError, Step};

/// Stage k0s and write `k0s.yaml` on a controller that is not installed yet.
pub async fn prepare(
    cancel: &Cancel,
    host: &Arc<Host>,
    facts: &HostFacts,
    plan: &ClusterPlan,
    c: &ControllerHost,
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
    configure::write_config(host, &plan.k0s_config, c.private_address.as_deref()).await
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
