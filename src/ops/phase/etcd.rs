//! Phase `etcd`: the control plane's quorum. Before a controller is stopped
//! every etcd member must be healthy; a member leaves only when it can be
//! identified and the members that remain keep a majority.
//!
//! A member is matched to a controller by its name (the host's hostname) or
//! its peer address (the controller's `private_address` or address). It is
//! healthy when its controller answers `k0s status`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mke_ssh::{Command, Host};

use super::probe::HostFacts;
use crate::ops::{ControllerHost, OpError, Step};

/// A controller as the quorum checks see it.
pub struct Peer<'a> {
    pub key: &'a str,
    pub controller: &'a ControllerHost,
    /// `None` when the host does not answer.
    pub host: Option<&'a Arc<Host>>,
    /// Its hostname, the etcd member's name (empty if unknown).
    pub hostname: &'a str,
}

/// One etcd member and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub peer: String,
    /// The controller key it belongs to, when one matches.
    pub key: Option<String>,
    pub healthy: bool,
}

pub(crate) async fn member_list(anchor: &Host) -> Result<BTreeMap<String, String>, OpError> {
    let list = anchor
        .check(&Command::new(mke_k0s::cli::etcd_member_list()))
        .await?;
    mke_k0s::parse_member_list(&list).map_err(|e| {
        OpError::host(
            anchor.name(),
            format!("unexpected etcd member list: {e}"),
            "Check etcd on that controller.",
        )
    })
}

pub(crate) fn matches(name: &str, peer: &str, hostname: &str, c: &ControllerHost) -> bool {
    (!hostname.is_empty() && name == hostname)
        || Some(peer) == c.private_address.as_deref()
        || peer == c.address
}

/// Whether k0s answers on the host right now.
async fn answers(host: &Host) -> bool {
    let probe = Command::new(format!(
        "timeout 20 {} status -o json >/dev/null 2>&1",
        mke_k0s::K0S_BINARY_PATH
    ))
    .timeout(Duration::from_secs(30))
    .display("k0s status");
    matches!(host.run(&probe).await, Ok(out) if out.success())
}

/// Every member of the etcd cluster, as `anchor` lists them, matched to
/// the controllers and checked.
pub async fn members(anchor: &Host, peers: &[Peer<'_>]) -> Result<Vec<Member>, OpError> {
    let list = member_list(anchor).await?;
    let mut out = Vec::new();
    for (name, url) in list {
        let peer = mke_k0s::peer_host(&url);
        let found = peers
            .iter()
            .find(|p| matches(&name, &peer, p.hostname, p.controller));
        let healthy = match found.and_then(|p| p.host) {
            Some(host) => answers(host).await,
            None => false,
        };
        out.push(Member {
            name,
            peer,
            key: found.map(|p| p.key.to_string()),
            healthy,
        });
    }
    Ok(out)
}

fn describe(members: &[Member]) -> String {
    members
        .iter()
        .map(|m| {
            format!(
                "- {} ({}): {}{}",
                m.name,
                m.peer,
                if m.healthy { "healthy" } else { "NOT healthy" },
                m.key
                    .as_ref()
                    .map(|k| format!(", controller {k}"))
                    .unwrap_or_else(|| ", not one of this cluster's controllers".into())
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refuses to stop `stopping` unless every etcd member is healthy: with one
/// member already down, stopping another could lose quorum.
pub async fn check_before_stop(
    anchor: &Host,
    stopping: &Host,
    peers: &[Peer<'_>],
) -> Result<(), OpError> {
    let members = members(anchor, peers).await?;
    if members.iter().all(|m| m.healthy) {
        return Ok(());
    }
    Err(OpError::host(
        stopping.name(),
        format!(
            "not stopping k0s: an etcd member is not healthy, and stopping this controller \
             could lose the quorum of the control plane. Members:\n{}",
            describe(&members)
        ),
        "Bring the unhealthy controller back (or remove it from `controllers`), then apply \
         again; nothing was stopped.",
    ))
}

/// Whether the member must be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// A controller being removed: its member must be found.
    Required,
    /// A wiped controller about to join anew: it may never have been one.
    IfMember,
}

/// `k0s etcd leave` for a controller's member. The member must be
/// identified (by hostname or peer address) and the members that remain
/// must keep a majority; otherwise nothing leaves.
pub async fn leave(
    anchor: &Host,
    facts: &HostFacts,
    c: &ControllerHost,
    peers: &[Peer<'_>],
    leaving: Leaving,
) -> Result<(), OpError> {
    let members = members(anchor, peers).await?;
    let found = members
        .iter()
        .find(|m| matches(&m.name, &m.peer, &facts.hostname, c));
    if found.is_none() && leaving == Leaving::IfMember {
        return Ok(());
    }
    let leaving = found.ok_or_else(|| {
        OpError::host(
            &c.address,
            format!(
                "its etcd member cannot be identified (by hostname or by the peer address {}), \
                     so it cannot leave etcd. Members:\n{}",
                c.private_address.as_deref().unwrap_or(&c.address),
                describe(&members)
            ),
            "Set `private_address` to the address its etcd member uses, or remove the member \
                 by hand (`k0s etcd leave --peer-address=<address>` on a controller), then apply \
                 again.",
        )
    })?;
    let remaining: Vec<&Member> = members.iter().filter(|m| *m != leaving).collect();
    let healthy = remaining.iter().filter(|m| m.healthy).count();
    if !remaining.is_empty() && healthy * 2 <= remaining.len() {
        return Err(OpError::host(
            anchor.name(),
            format!(
                "{} of the {} etcd members that would remain are healthy: not a majority, so {} \
                 does not leave. Members:\n{}",
                healthy,
                remaining.len(),
                leaving.name,
                describe(&members)
            ),
            "Bring the unhealthy controllers back first, then apply again.",
        ));
    }
    let step = Step::start(anchor.name(), "etcd leave");
    let out = anchor
        .run(&Command::new(mke_k0s::cli::etcd_leave(&leaving.peer)))
        .await?;
    use mke_k0s::outcome::{etcd_leave_outcome, EtcdLeaveOutcome};
    if etcd_leave_outcome(out.status, &out.stderr) == EtcdLeaveOutcome::Failed {
        return Err(OpError::host(
            anchor.name(),
            format!(
                "`k0s etcd leave --peer-address={}` failed: {}",
                leaving.peer,
                out.stderr.trim()
            ),
            "Check etcd health on the controllers.",
        ));
    }
    step.done();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller(address: &str, private: Option<&str>) -> ControllerHost {
        ControllerHost {
            address: address.into(),
            private_address: private.map(str::to_string),
            port: None,
            user: None,
            host_key: None,
            workloads: false,
        }
    }

    #[test]
    fn members_match_by_hostname_or_peer_address() {
        let nat = controller("203.0.113.5", Some("10.0.0.5"));
        assert!(matches("c1", "10.0.0.5", "", &nat));
        assert!(matches("c1", "10.0.0.9", "c1", &nat));
        // Reached through NAT without a private address: the peer is unknown.
        let plain = controller("203.0.113.5", None);
        assert!(!matches("c1", "10.0.0.5", "", &plain));
    }

    #[test]
    fn the_member_list_says_which_member_is_down() {
        let members = vec![
            Member {
                name: "c1".into(),
                peer: "10.0.0.1".into(),
                key: Some("a".into()),
                healthy: true,
            },
            Member {
                name: "c9".into(),
                peer: "10.0.0.9".into(),
                key: None,
                healthy: false,
            },
        ];
        let text = describe(&members);
        assert!(
            text.contains("- c1 (10.0.0.1): healthy, controller a"),
            "{text}"
        );
        assert!(
            text.contains("- c9 (10.0.0.9): NOT healthy, not one of this cluster's controllers"),
            "{text}"
        );
    }
}
