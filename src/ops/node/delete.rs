//! Delete: connect → lock → probe → the host must be this node's (else
//! nothing happens) → drain (a reachable node only) → delete the Node
//! object → wipe the host.
//!
//! Fails closed: only a node whose address does not answer at all is taken
//! for gone (its Node object is deleted without a drain). A node or
//! controller that refuses the login or the connection, presents another
//! host key or cannot be reached through the bastion fails the delete before
//! anything is drained, deleted or wiped, and the node stays in state.

use std::collections::BTreeMap;

use super::NodePlan;
use crate::ops::phase::connect::first_controller;
use crate::ops::phase::lock;
use crate::ops::phase::ownership::Owned;
use crate::ops::phase::{drain, probe, wipe};
use crate::ops::{Cancel, OpError, Runtime, Step, Warning};

/// What a delete did not do but did not fail on, and what failed.
#[derive(Debug, Default)]
pub struct Deleted {
    pub warnings: Vec<Warning>,
    /// (what failed, why), in the order they happened.
    pub errors: Vec<(String, OpError)>,
}

pub async fn delete(rt: &Runtime, cancel: &Cancel, plan: &NodePlan) -> Deleted {
    rt.node_lists().forget().await;
    let mut out = Deleted::default();
    let (host, unreachable) = match rt.connect(&plan.target(), rt.quick()).await {
        Ok(h) => (Some(h), None),
        Err(e) if e.is_unreachable() => (None, Some(e)),
        Err(e) => {
            out.errors.push((untouched(plan), e));
            return out;
        }
    };
    let mut lock = None;
    let mut owned = None;
    if let Some(h) = &host {
        let taken = match rt.lock(h).await {
            Ok(l) => l,
            Err(e) => {
                out.errors.push(("Cannot delete the node".into(), e));
                return out;
            }
        };
        let claimed = match probe::probe(h).await {
            Ok(facts) => Owned::claim(h.clone(), &facts, &plan.claim()),
            Err(e) => Err(e),
        };
        match claimed {
            Ok(o) => owned = o,
            Err(e) => {
                // Not this node's machine: nothing is drained, deleted or wiped.
                taken.release().await;
                out.errors
                    .push((format!("Deleting {} failed", plan.address), e));
                return out;
            }
        }
        lock = Some(taken);
    }
    // Ctrl-C, or the lock taken from this run, stops the drain.
    let watch = lock::watch(cancel, lock.as_slice());
    remove_from_cluster(
        rt,
        watch.cancel(),
        plan,
        unreachable,
        owned.is_some(),
        &mut out,
    )
    .await;
    for (_, e) in out.errors.iter_mut() {
        let error = std::mem::replace(e, OpError::NotConfigured);
        *e = watch.explain(error);
    }
    if let (true, Some(owned)) = (out.errors.is_empty(), &owned) {
        if let Err(e) = wipe::wipe(owned).await {
            out.errors
                .push((format!("Wiping {} failed", plan.address), e));
        }
    }
    if let Some(lock) = lock {
        lock.release().await;
    }
    out
}

/// The summary of a failure that left everything as it was.
fn untouched(plan: &NodePlan) -> String {
    format!(
        "Cannot delete the node at {}; nothing was drained, deleted or wiped",
        plan.address
    )
}

/// Drains the node (when its host answers and is this node's) and deletes
/// its Node object. `unreachable` is why the host did not answer.
async fn remove_from_cluster(
    rt: &Runtime,
    cancel: &Cancel,
    plan: &NodePlan,
    unreachable: Option<OpError>,
    drainable: bool,
    out: &mut Deleted,
) {
    let name = plan.name();
    let mut keys = BTreeMap::new();
    let controller =
        match first_controller(rt, &plan.controllers, rt.quick(), &mut keys, &plan.address).await {
            Ok(c) => c,
            Err(e) if e.is_unreachable() || plan.controllers.is_empty() => {
                // The cluster itself is gone: there is nothing to drain into.
                out.warnings.push(Warning::because(
                    "No controller answered; the Node object was not deleted",
                    e,
                    format!(
                        "Delete it later with `k0s kubectl delete node {name}` on a controller."
                    ),
                ));
                return;
            }
            Err(e) => {
                out.errors.push((untouched(plan), e));
                return;
            }
        };
    if let Some(e) = unreachable {
        out.warnings.push(Warning::because(
            format!("Node {} is unreachable; it was not drained", plan.address),
            e,
            "A dead kubelet's pods never finish draining, so the Node object is deleted \
             without a drain. Wipe k0s from the machine by hand if it comes back.",
        ));
    } else if drainable && !name.is_empty() {
        let _permit = rt.drains().acquire_owned().await.expect("drain semaphore");
        let step = Step::start(controller.name(), "drain node");
        if let Err(e) = drain::drain(cancel, &controller, name, plan.drain_timeout).await {
            out.errors.push((format!("Draining {name} failed"), e));
            return;
        }
        step.done();
    }
    if !name.is_empty() {
        let delete = mke_ssh::Command::new(mke_k0s::cli::kubectl_delete_node(name));
        if let Err(e) = controller.check(&delete).await {
            out.errors
                .push((format!("Deleting Node {name} failed"), e.into()));
        }
    }
}
