//! Listing for `terraform query`: which of the given hosts are controllers
//! of a cluster this provider installed (their marker names it), grouped by
//! cluster, and controllers k0sctl or mkectl installed (no marker), grouped
//! by their cluster CA so that the generated config adopts them. Each host is reached as an import reaches it (a key seen on
//! first contact is accepted) and probed once.

use std::collections::BTreeMap;

use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::runtime::target;
use crate::ops::{Runtime, Warning};

/// One cluster and those of its controllers that were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCluster {
    pub name: String,
    /// Empty for a cluster without a marker: the import reads it.
    pub id: String,
    /// A cluster no marker names (k0sctl or mkectl installed it): its CA's sha256.
    pub unmanaged_ca: Option<String>,
    /// By the machine's hostname: the key `mke_cluster`'s import gives it.
    pub controllers: BTreeMap<String, (String, Option<u16>)>,
}

impl FoundCluster {
    /// `<key>=<address>[:<port>],…`: the import ID and identity of `mke_cluster`.
    pub fn import_id(&self) -> String {
        self.controllers
            .iter()
            .map(|(key, (address, port))| match port {
                Some(port) => format!("{key}={address}:{port}"),
                None => format!("{key}={address}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[derive(Debug, Default)]
pub struct Found {
    pub clusters: Vec<FoundCluster>,
    /// Hosts that could not be probed.
    pub warnings: Vec<Warning>,
}

pub async fn find_clusters(rt: &Runtime, addresses: &[(String, Option<u16>)]) -> Found {
    let probed = rt
        .each(addresses.to_vec(), |(address, port)| async move {
            let facts = async {
                let host = rt
                    .connect(&target(&address, port, None, None), rt.quick())
                    .await?;
                probe::probe(&host).await
            }
            .await;
            ((address, port), facts)
        })
        .await;
    let mut found = Found::default();
    let mut answered = Vec::new();
    for ((address, port), facts) in probed {
        match facts {
            Ok(facts) => answered.push(((address, port), facts)),
            Err(e) => found.warnings.push(Warning::because(
                format!("{address} was not probed"),
                e,
                "The listing goes on without it.",
            )),
        }
    }
    found.clusters = group(answered);
    found
}

/// Controllers with a finished cluster's marker, by cluster id, and
/// controllers without a marker, by CA, in the order first seen; workers,
/// unfinished creates and hosts without k0s are left out.
fn group(answered: Vec<((String, Option<u16>), HostFacts)>) -> Vec<FoundCluster> {
    let mut clusters: Vec<FoundCluster> = Vec::new();
    for ((address, port), facts) in answered {
        let marked = facts
            .marker
            .as_ref()
            .filter(|m| m.role == "controller" && !m.id.is_empty());
        let unmanaged_ca = facts
            .ca_sha256
            .clone()
            .filter(|_| facts.marker.is_none())
            .filter(|_| {
                facts
                    .unit
                    .as_ref()
                    .is_some_and(|u| u.role == mke_k0s::Role::Controller)
            });
        let (name, id) = match (marked, &unmanaged_ca) {
            (Some(marker), _) => (marker.cluster.clone(), marker.id.clone()),
            (None, Some(_)) => (String::new(), String::new()),
            (None, None) => continue,
        };
        let same = |c: &FoundCluster| match &unmanaged_ca {
            Some(ca) => c.unmanaged_ca.as_ref() == Some(ca),
            None => c.unmanaged_ca.is_none() && c.id == id,
        };
        let index = match clusters.iter().position(same) {
            Some(i) => i,
            None => {
                clusters.push(FoundCluster {
                    name,
                    id,
                    unmanaged_ca: unmanaged_ca.clone(),
                    controllers: BTreeMap::new(),
                });
                clusters.len() - 1
            }
        };
        let cluster = &mut clusters[index];
        let hostname = facts.hostname.to_ascii_lowercase();
        let key = if hostname.is_empty() || cluster.controllers.contains_key(&hostname) {
            address.clone()
        } else {
            hostname
        };
        cluster.controllers.insert(key, (address, port));
    }
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::phase::marker::Marker;

    fn host(hostname: &str, cluster: &str, id: &str, role: &str) -> HostFacts {
        HostFacts {
            hostname: hostname.into(),
            marker: Some(Marker {
                cluster: cluster.into(),
                id: id.into(),
                role: role.into(),
                instance: String::new(),
                controllers: Vec::new(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn controllers_are_grouped_by_cluster_and_workers_left_out() {
        let at = |a: &str, port: Option<u16>| (a.to_string(), port);
        let clusters = group(vec![
            (
                at("10.0.0.11", None),
                host("C1", "blue", "u-1", "controller"),
            ),
            (at("10.0.0.21", None), host("w1", "blue", "u-1", "worker")),
            (
                at("10.0.1.11", None),
                host("c1", "green", "u-2", "controller"),
            ),
            (
                at("10.0.0.12", Some(2222)),
                host("c2", "blue", "u-1", "controller"),
            ),
            (at("10.0.0.31", None), HostFacts::default()),
            (at("10.0.0.41", None), host("c9", "new", "", "controller")),
        ]);
        assert_eq!(clusters.len(), 2);
        assert_eq!(
            (clusters[0].name.as_str(), clusters[0].id.as_str()),
            ("blue", "u-1")
        );
        assert_eq!(clusters[0].import_id(), "c1=10.0.0.11,c2=10.0.0.12:2222");
        assert_eq!(clusters[1].import_id(), "c1=10.0.1.11");
    }

    #[test]
    fn a_hostname_seen_twice_in_a_cluster_keys_by_address() {
        let clusters = group(vec![
            (
                ("10.0.0.11".into(), None),
                host("cp", "blue", "u-1", "controller"),
            ),
            (
                ("10.0.0.12".into(), None),
                host("cp", "blue", "u-1", "controller"),
            ),
        ]);
        assert_eq!(clusters[0].import_id(), "10.0.0.12=10.0.0.12,cp=10.0.0.11");
    }

    #[test]
    fn controllers_without_a_marker_are_grouped_by_their_ca() {
        let unmanaged = |hostname: &str, ca: &str, role: mke_k0s::Role| HostFacts {
            hostname: hostname.into(),
            ca_sha256: Some(ca.into()),
            unit: Some(mke_k0s::InstalledUnit {
                role,
                binary: "/usr/local/bin/k0s".into(),
                args: Vec::new(),
                flags: BTreeMap::new(),
            }),
            ..Default::default()
        };
        let at = |a: &str| (a.to_string(), None);
        let clusters = group(vec![
            (
                at("10.0.0.11"),
                unmanaged("a1", "ca-a", mke_k0s::Role::Controller),
            ),
            (
                at("10.0.0.21"),
                unmanaged("a9", "ca-a", mke_k0s::Role::Worker),
            ),
            (at("10.0.1.11"), host("m1", "blue", "u-1", "controller")),
            (
                at("10.0.0.12"),
                unmanaged("a2", "ca-a", mke_k0s::Role::Controller),
            ),
            (
                at("10.0.2.11"),
                unmanaged("b1", "ca-b", mke_k0s::Role::Controller),
            ),
        ]);
        let found: Vec<(Option<&str>, &str, String)> = clusters
            .iter()
            .map(|c| (c.unmanaged_ca.as_deref(), c.id.as_str(), c.import_id()))
            .collect();
        assert_eq!(
            found,
            [
                (Some("ca-a"), "", "a1=10.0.0.11,a2=10.0.0.12".to_string()),
                (None, "u-1", "m1=10.0.1.11".to_string()),
                (Some("ca-b"), "", "b1=10.0.2.11".to_string()),
            ]
        );
    }
}
