//! Delete: connect the node and a controller → drain (a reachable node
//! only) → delete the Node object → lock → wipe the host.

use std::collections::BTreeMap;

use super::NodePlan;
use crate::ops::phase::connect::first_controller;
use crate::ops::phase::ownership::Owned;
use crate::ops::phase::{drain, wipe};
use crate::ops::{OpError, Runtime, Step, Warning};

/// What a delete did not do but did not fail on, and what failed.
#[derive(Debug, Default)]
pub struct Deleted {
    pub warnings: Vec<Warning>,
    /// (what failed, why), in the order they happened.
    pub errors: Vec<(String, OpError)>,
}

pub async fn delete(rt: &Runtime, plan: &NodePlan) -> Deleted {
    rt.node_lists().forget().await;
    let name = plan.name();
    let mut out = Deleted::default();
    let host = rt.connect(&plan.target(), rt.quick()).await;
    let mut keys = BTreeMap::new();
    let controller =
        first_controller(rt, &plan.controllers, rt.quick(), &mut keys, &plan.address).await;
    match (&host, &controller) {
        (_, Err(_)) => {}
        (Ok(_), Ok(c)) if !name.is_empty() => {
            let _permit = rt.drains().acquire_owned().await.expect("drain semaphore");
            let step = Step::start(c.name(), "drain node");
            if let Err(e) = drain::drain(c, name, plan.drain_timeout).await {
                out.errors.push((format!("Draining {name} failed"), e));
                return out;
            }
            step.done();
        }
        _ => {}
    }
    let controller = match controller {
        Ok(c) => Ok(c),
        Err(e) => {
            out.warnings.push(Warning::because(
                "No controller answered; the Node object was not deleted",
                e,
                format!("Delete it later with `k0s kubectl delete node {name}` on a controller."),
            ));
            Err(())
        }
    };
    let host = match host {
        Ok(h) => Some(h),
        Err(e) => {
            if controller.is_ok() {
                out.warnings.push(Warning::because(
                    format!("Node {} is unreachable; it was not drained", plan.address),
                    e,
                    "A dead kubelet's pods never finish draining, so the Node object is deleted without a drain. Wipe k0s from the machine by hand if it comes back.",
                ));
            }
            None
        }
    };
    if let (Ok(c), false) = (&controller, name.is_empty()) {
        if let Err(e) = c
            .check(&mke_ssh::Command::new(mke_k0s::cli::kubectl_delete_node(
                name,
            )))
            .await
        {
            out.errors
                .push((format!("Deleting Node {name} failed"), e.into()));
            return out;
        }
    }
    if let Some(h) = host {
        let lock = match rt.lock(&h).await {
            Ok(l) => l,
            Err(e) => {
                out.errors.push(("Cannot delete the node".into(), e));
                return out;
            }
        };
        let r = wipe::wipe(&Owned::unchecked(h)).await;
        lock.release().await;
        if let Err(e) = r {
            out.errors
                .push((format!("Wiping {} failed", plan.address), e));
        }
    }
    out
}
