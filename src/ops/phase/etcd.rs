//! Phase `etcd leave`: a controller's etcd member leaves the cluster before
//! the controller is rejoined or removed.

use mke_ssh::{Command, Host};

use super::probe::HostFacts;
use crate::ops::{ControllerHost, OpError, Step};

/// `k0s etcd leave` for a controller's member, found by hostname in the
/// member list (its etcd peer address, not its SSH address).
pub async fn leave(anchor: &Host, facts: &HostFacts, c: &ControllerHost) -> Result<(), OpError> {
    let list = anchor
        .check(&Command::new(mke_k0s::cli::etcd_member_list()))
        .await?;
    let members = mke_k0s::parse_member_list(&list).map_err(|e| {
        OpError::host(
            anchor.name(),
            format!("unexpected etcd member list: {e}"),
            "Check etcd on that controller.",
        )
    })?;
    let peer = members
        .get(&facts.hostname)
        .map(|url| mke_k0s::peer_host(url))
        .or_else(|| {
            members
                .values()
                .map(|u| mke_k0s::peer_host(u))
                .find(|p| Some(p.as_str()) == c.private_address.as_deref() || *p == c.address)
        });
    if let Some(peer) = peer {
        let step = Step::start(anchor.name(), "etcd leave");
        let out = anchor
            .run(&Command::new(mke_k0s::cli::etcd_leave(&peer)))
            .await?;
        use mke_k0s::outcome::{etcd_leave_outcome, EtcdLeaveOutcome};
        if etcd_leave_outcome(out.status, &out.stderr) == EtcdLeaveOutcome::Failed {
            return Err(OpError::host(
                anchor.name(),
                format!(
                    "`k0s etcd leave --peer-address={peer}` failed: {}",
                    out.stderr.trim()
                ),
                "Check etcd health on the controllers.",
            ));
        }
        step.done();
    }
    Ok(())
}
