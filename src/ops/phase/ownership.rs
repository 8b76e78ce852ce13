//! Ownership: a host is wiped, reset, stopped for removal or overwritten
//! only when its marker names the resource at work. The only kind of host a
//! destructive phase accepts is an [`Owned`] one, and [`Owned::claim`] is the
//! one place that decides.
//!
//! A host is the resource's own when the marker's instance id is the
//! resource's; for markers written before instance ids, when the cluster id
//! and the role match. A host without marker whose k0s another tool
//! installed (k0sctl, mkectl) is the resource's when the resource adopted it:
//! the fingerprint of the cluster CA on the host is the one recorded at
//! import. Its marker is written before the first change.

use std::sync::Arc;

use mke_ssh::Host;

use super::marker::{Marker, MARKER_PATH};
use super::probe::HostFacts;
use crate::ops::OpError;

/// Who an operation works for.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The cluster id in state; empty while a create has not finished.
    pub cluster_id: &'a str,
    /// `controller` or `worker`.
    pub role: &'a str,
    /// The resource's instance id; `None` for a resource saved before
    /// instance ids existed.
    pub instance: Option<&'a str>,
    /// `mke_cluster` or `mke_node`, for messages.
    pub resource: &'a str,
    /// For a resource that adopted hosts without marker: the fingerprint
    /// of their cluster CA, recorded at import.
    pub adopted_ca: Option<&'a str>,
}

/// What a host's marker says about a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Belonging {
    /// The marker names the resource.
    Ours,
    /// No marker and no k0s: nothing of anyone's to destroy.
    Nobody,
    /// No marker, but k0s of the cluster whose CA the resource adopted.
    Adopted,
    /// Someone else's: the description says whose.
    Foreign(String),
}

impl Claim<'_> {
    /// `host_ca`: the fingerprint of the cluster CA found on the host.
    pub fn judge(
        &self,
        marker: Option<&Marker>,
        has_k0s: bool,
        host_ca: Option<&str>,
    ) -> Belonging {
        match marker {
            Some(m) => {
                let same_instance = self
                    .instance
                    .is_some_and(|i| !m.instance.is_empty() && m.instance == i);
                let legacy = m.instance.is_empty()
                    && !self.cluster_id.is_empty()
                    && m.id == self.cluster_id
                    && m.role == self.role;
                if same_instance || legacy {
                    Belonging::Ours
                } else {
                    Belonging::Foreign(m.describe())
                }
            }
            None if has_k0s && self.adopted_ca.is_some() && self.adopted_ca == host_ca => {
                Belonging::Adopted
            }
            None if has_k0s => {
                Belonging::Foreign("k0s installed by something other than this provider".into())
            }
            None => Belonging::Nobody,
        }
    }
}

/// A host the resource may destroy k0s on.
pub struct Owned {
    host: Arc<Host>,
}

impl Owned {
    /// The host as the resource's own; `None` when nothing is installed there
    /// (nothing to destroy); an error naming the owner when it is someone
    /// else's.
    pub fn claim(
        host: Arc<Host>,
        facts: &HostFacts,
        claim: &Claim<'_>,
    ) -> Result<Option<Owned>, OpError> {
        match claim.judge(
            facts.marker.as_ref(),
            facts.has_k0s(),
            facts.ca_sha256.as_deref(),
        ) {
            Belonging::Ours | Belonging::Adopted => Ok(Some(Owned { host })),
            Belonging::Nobody => Ok(None),
            Belonging::Foreign(whose) => Err(not_ours(&host, &whose, claim)),
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }
}

/// The error for a host that belongs to someone else: nothing was done to it.
pub fn not_ours(host: &Host, whose: &str, claim: &Claim<'_>) -> OpError {
    OpError::host(
        host.name(),
        format!(
            "the host belongs to {whose} ({MARKER_PATH}), not to this {}; nothing was changed on it",
            claim.resource
        ),
        "Check the address (a typo can point at another cluster's machine). If the machine \
         really is free, wipe it first (`k0s stop; k0s reset; rm -f /etc/k0s/mke.json`); if the \
         resource's state is wrong, remove the host from the configuration.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(id: &str, role: &str, instance: &str) -> Marker {
        Marker {
            cluster: "prod".into(),
            id: id.into(),
            role: role.into(),
            instance: instance.into(),
            controllers: Vec::new(),
        }
    }

    fn claim<'a>(id: &'a str, role: &'a str, instance: Option<&'a str>) -> Claim<'a> {
        Claim {
            cluster_id: id,
            role,
            instance,
            resource: "mke_cluster",
            adopted_ca: None,
        }
    }

    #[test]
    fn the_instance_id_decides() {
        let m = marker("u-1", "controller", "i-1");
        assert_eq!(
            claim("u-1", "controller", Some("i-1")).judge(Some(&m), true, None),
            Belonging::Ours
        );
        // Same cluster id, another resource: a second cluster of the same name, or a copy.
        assert!(matches!(
            claim("u-1", "controller", Some("i-2")).judge(Some(&m), true, None),
            Belonging::Foreign(_)
        ));
        assert!(matches!(
            claim("u-1", "controller", None).judge(Some(&m), true, None),
            Belonging::Foreign(_)
        ));
    }

    #[test]
    fn markers_without_instance_match_by_cluster_id_and_role() {
        let m = marker("u-1", "controller", "");
        assert_eq!(
            claim("u-1", "controller", None).judge(Some(&m), true, None),
            Belonging::Ours
        );
        assert_eq!(
            claim("u-1", "controller", Some("i-1")).judge(Some(&m), true, None),
            Belonging::Ours
        );
        // A node resource must never own a controller of its own cluster.
        assert!(matches!(
            claim("u-1", "worker", None).judge(Some(&m), true, None),
            Belonging::Foreign(_)
        ));
        // An unfinished create has no id to match.
        let unfinished = marker("", "controller", "");
        assert!(matches!(
            claim("", "controller", None).judge(Some(&unfinished), true, None),
            Belonging::Foreign(_)
        ));
    }

    #[test]
    fn a_host_without_marker_is_nobody_s_unless_k0s_runs_there() {
        assert_eq!(
            claim("u-1", "worker", None).judge(None, false, None),
            Belonging::Nobody
        );
        assert!(matches!(
            claim("u-1", "worker", None).judge(None, true, None),
            Belonging::Foreign(_)
        ));
    }

    #[test]
    fn a_host_without_marker_is_the_adopter_s_when_its_ca_matches() {
        let adopter = Claim {
            adopted_ca: Some("ca-1"),
            ..claim("u-1", "controller", Some("i-1"))
        };
        assert_eq!(adopter.judge(None, true, Some("ca-1")), Belonging::Adopted);
        assert!(matches!(
            adopter.judge(None, true, Some("ca-2")),
            Belonging::Foreign(_)
        ));
        assert!(matches!(
            adopter.judge(None, true, None),
            Belonging::Foreign(_)
        ));
        // A resource that adopted nothing owns no marker-less host.
        assert!(matches!(
            claim("u-1", "controller", Some("i-1")).judge(None, true, Some("ca-1")),
            Belonging::Foreign(_)
        ));
        // Once another resource's marker is there, the CA no longer decides.
        let m = marker("u-1", "controller", "i-9");
        assert!(matches!(
            adopter.judge(Some(&m), true, Some("ca-1")),
            Belonging::Foreign(_)
        ));
    }
}
