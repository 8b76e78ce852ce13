//! A worker's Node object, seen from a controller: read it, wait for it to
//! be Ready or to register again, and keep its managed labels and taints.
//! Waits go through the process's [`NodeWatch`]: one poller per controller
//! serves every worker waiting at the same time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mke_k0s::NodeInfo;
use mke_ssh::{Command, Host};

use super::service;
use crate::ops::node_watch::NodeWatch;
use crate::ops::{Cancel, OpError};

pub async fn get_node(controller: &Host, name: &str) -> Result<Option<NodeInfo>, OpError> {
    let out = controller
        .run(&Command::new(mke_k0s::cli::kubectl_get_node_json(name)))
        .await?;
    if out.status != 0 {
        if mke_k0s::outcome::is_not_found(&out.stderr) {
            return Ok(None);
        }
        return Err(OpError::host(
            controller.name(),
            format!(
                "`k0s kubectl get node {name}` failed: {}",
                out.stderr.trim()
            ),
            "Check that k0s runs on the controller.",
        ));
    }
    mke_k0s::parse_node_json(&out.stdout)
        .map(Some)
        .map_err(|e| {
            OpError::host(
                controller.name(),
                format!("unexpected Node JSON: {e}"),
                "Check the k0s version.",
            )
        })
}

pub async fn wait_node_ready(
    cancel: &Cancel,
    nodes: &NodeWatch,
    controller: &Arc<Host>,
    name: &str,
    timeout: Duration,
) -> Result<NodeInfo, OpError> {
    let what = format!("node {name} to be Ready");
    nodes
        .wait(cancel, controller, name, &what, timeout, |node| {
            node.filter(|n| n.ready).cloned()
        })
        .await
}

/// After a worker's k0s was (re)started: waits until k0s answers on the host
/// and its Node reports Ready with a heartbeat newer than `before` (the one
/// read before the stop). A Node stays Ready for a grace period after its
/// kubelet stopped, so Ready alone could be a stale heartbeat.
pub async fn wait_node_back(
    cancel: &Cancel,
    nodes: &NodeWatch,
    host: &Host,
    controller: &Arc<Host>,
    name: &str,
    before: Option<i64>,
    timeout: Duration,
) -> Result<NodeInfo, OpError> {
    service::wait_k0s_answers(cancel, host).await?;
    let fresh =
        |n: &&NodeInfo| n.ready && before.is_none_or(|b| n.ready_heartbeat.is_some_and(|h| h > b));
    let what = format!("node {name} to report Ready again");
    nodes
        .wait(cancel, controller, name, &what, timeout, |node| {
            node.filter(fresh).cloned()
        })
        .await
}

pub async fn wait_registered(
    cancel: &Cancel,
    nodes: &NodeWatch,
    controller: &Arc<Host>,
    name: &str,
    timeout: Duration,
) -> Result<NodeInfo, OpError> {
    let what = format!("node {name} to register");
    nodes
        .wait(cancel, controller, name, &what, timeout, |node| {
            node.cloned()
        })
        .await
}

/// The labels and taints the Node should have, and those of the managed
/// keys it has now.
pub struct LabelsAndTaints<'a> {
    pub want_labels: &'a BTreeMap<String, String>,
    pub had_labels: &'a BTreeMap<String, String>,
    pub want_taints: &'a [String],
    pub had_taints: &'a [String],
}

/// Adds what the plan has and removes what it no longer has.
pub async fn reconcile_labels_and_taints(
    controller: &Host,
    name: &str,
    change: LabelsAndTaints<'_>,
) -> Result<(), OpError> {
    let removed: Vec<String> = change
        .had_labels
        .keys()
        .filter(|k| !change.want_labels.contains_key(*k))
        .cloned()
        .collect();
    if let Some(cmd) = mke_k0s::cli::kubectl_label(name, change.want_labels, &removed) {
        controller.check(&Command::new(cmd)).await?;
    }
    let taint_key = |t: &str| t.split([':', '=']).next().unwrap_or_default().to_string();
    let gone: Vec<String> = change
        .had_taints
        .iter()
        .filter(|t| {
            !change
                .want_taints
                .iter()
                .any(|w| taint_key(w) == taint_key(t))
        })
        .cloned()
        .collect();
    if let Some(cmd) = mke_k0s::cli::kubectl_taint(name, change.want_taints, &gone) {
        controller.check(&Command::new(cmd)).await?;
    }
    Ok(())
}
