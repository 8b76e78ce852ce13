//! `mke_cluster` as typed values: the model Terraform's plan and state decode
//! into, the [`ClusterPlan`] host work runs on, and the state built back
//! from what the hosts reached.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::tfvalue::{from_value, to_value, Unknowable, Value};

use crate::ops::cluster::{
    BackupPolicy, ClusterPlan, ClusterReached, ControllerSeen, ImportedCluster,
};
use crate::ops::phase::stage::BinarySource;
use crate::ops::HostStatus;
use crate::resources::controllers::{self, ControllerModel, ControllersModel};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterModel {
    pub name: String,
    pub k0s_version: String,
    pub k0s_binary_path: Option<String>,
    pub k0s_download_url: Option<String>,
    pub k0s_download_allow_http: Option<bool>,
    pub k0s_sha256: Option<String>,
    pub controllers: ControllersModel,
    pub api: Option<ApiModel>,
    pub network: Option<NetworkModel>,
    pub k0s_config_overrides: Option<String>,
    pub backup: Option<BackupModel>,
    pub last_backup: Unknowable<Option<LastBackupModel>>,
    pub restore_from: Option<String>,
    pub timeouts: Option<TimeoutsModel>,
    pub id: Unknowable<Option<String>>,
    pub marker_id: Unknowable<Option<String>>,
    pub adopted_ca_sha256: Unknowable<Option<String>>,
    pub unmanaged_install_flags: Unknowable<Option<BTreeMap<String, String>>>,
    pub api_endpoint: Unknowable<Option<String>>,
    pub kubeconfig: Unknowable<Option<String>>,
    pub ca_certificate: Unknowable<Option<String>>,
    pub controller_addresses: Unknowable<Option<Vec<String>>>,
    pub k0s_config: Unknowable<Option<String>>,
    pub host_status: Unknowable<Option<BTreeMap<String, String>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiModel {
    pub external_address: Option<String>,
    pub sans: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkModel {
    pub pod_cidr: String,
    pub service_cidr: String,
    pub cluster_domain: String,
    pub kube_proxy_mode: String,
    pub calico: CalicoModel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalicoModel {
    pub mode: String,
    pub vxlan_port: u16,
    pub vxlan_vni: u32,
    pub mtu: u32,
    pub wireguard: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupModel {
    pub before_change: bool,
    pub directory: String,
    pub keep: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastBackupModel {
    pub path: String,
    pub time: String,
    pub sha256: String,
}

/// `timeouts` of `mke_cluster` and `mke_node`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeoutsModel {
    pub create: Option<String>,
    pub update: Option<String>,
    pub delete: Option<String>,
}

/// The limit of one operation: the configured `timeouts.<op>`, or `default`.
pub fn time_limit(timeouts: &Option<TimeoutsModel>, op: &str, default: Duration) -> Duration {
    let configured = timeouts.as_ref().and_then(|t| match op {
        "create" => t.create.as_deref(),
        "update" => t.update.as_deref(),
        _ => t.delete.as_deref(),
    });
    configured
        .and_then(|t| mke_k0s::parse_duration(t).ok())
        .unwrap_or(default)
}

/// Terraform needs every value known after apply; what a failed run did not
/// learn is saved as null.
pub fn nulls_for_unknowns(v: &mut Value) {
    match v {
        Value::Unknown => *v = Value::Null,
        Value::Object(f) | Value::Map(f) => f.values_mut().for_each(nulls_for_unknowns),
        Value::List(l) | Value::Set(l) | Value::Tuple(l) => {
            l.iter_mut().for_each(nulls_for_unknowns)
        }
        _ => {}
    }
}

impl ClusterModel {
    pub fn decode(value: &Value) -> Option<ClusterModel> {
        from_value(value).ok()
    }

    pub fn encode(&self) -> Value {
        to_value(self).expect("the cluster model matches its schema")
    }

    /// What host work needs, when the value holds all of it.
    pub fn plan(&self, instance: Option<&str>) -> Option<ClusterPlan> {
        let k0s_config = self.k0s_config.known()?.clone()?;
        let api_endpoint = self.api_endpoint.known()?.clone()?;
        let controllers = controllers::hosts(&self.controllers);
        let mut order: Vec<String> = controllers.keys().cloned().collect();
        let leader = self
            .controller_addresses
            .known()
            .and_then(|a| a.as_ref())
            .and_then(|a| a.first());
        if let Some(leader) = leader {
            if let Some(pos) = order.iter().position(|k| controllers[k].address == *leader) {
                let k = order.remove(pos);
                order.insert(0, k);
            }
        }
        if order.is_empty() {
            return None;
        }
        Some(ClusterPlan {
            name: self.name.clone(),
            version: self.k0s_version.clone(),
            source: BinarySource::configured(
                self.k0s_binary_path.as_deref(),
                self.k0s_download_url.as_deref(),
                self.k0s_download_allow_http.unwrap_or(false),
                self.k0s_sha256.as_deref(),
            ),
            controllers,
            order,
            k0s_config,
            api_endpoint,
            id: self.id.known().cloned().flatten().unwrap_or_default(),
            instance: instance.map(str::to_string),
            adopted_ca: self.adopted_ca_sha256.known().cloned().flatten(),
            restore_from: self.restore_from.as_ref().map(std::path::PathBuf::from),
            // Only where the plan left `last_backup` unknown: it expects a backup.
            backup: self
                .backup
                .as_ref()
                .filter(|b| b.before_change && self.last_backup.is_unknown())
                .map(|b| BackupPolicy {
                    directory: std::path::PathBuf::from(&b.directory),
                    keep: b.keep.max(1) as usize,
                }),
        })
    }

    /// After a failed create or update, only the controllers the operation
    /// changed, and those the state had already whose removal did not
    /// finish: nothing else may be destroyed later in this resource's name.
    pub fn keep_only(&mut self, reached: &ClusterReached, prior: Option<&ClusterModel>) {
        let planned = std::mem::take(&mut self.controllers);
        let prior_addresses: Vec<&str> = prior
            .map(|p| p.controllers.values().map(|c| c.address.as_str()).collect())
            .unwrap_or_default();
        for (key, c) in planned {
            if reached.changed.contains(&key) || prior_addresses.contains(&c.address.as_str()) {
                self.controllers.insert(key, c);
            }
        }
        if let Some(prior) = prior {
            for (key, c) in &prior.controllers {
                let kept = self.controllers.values().any(|k| k.address == c.address);
                if kept || reached.removed.contains(&c.address) {
                    continue;
                }
                let key = if self.controllers.contains_key(key) {
                    format!("{key}-removing")
                } else {
                    key.clone()
                };
                self.controllers.insert(key, c.clone());
            }
        }
        let kept: Vec<String> = self
            .controllers
            .values()
            .map(|c| c.address.clone())
            .collect();
        if let Unknowable::Known(Some(addresses)) = &mut self.controller_addresses {
            addresses.retain(|a| kept.contains(a));
        }
        if let Unknowable::Known(Some(status)) = &mut self.host_status {
            status.retain(|k, _| self.controllers.contains_key(k));
        }
    }

    /// Writes what the hosts reached into the model.
    pub fn record(&mut self, reached: &ClusterReached) {
        controllers::record_host_keys(&mut self.controllers, &reached.host_keys);
        if let (Unknowable::Unknown, Some(id)) = (&self.id, &reached.id) {
            self.id = Unknowable::Known(Some(id.clone()));
        }
        if let Some(status) = &reached.host_status {
            self.host_status = Unknowable::Known(Some(statuses(status)));
        }
        if let Some(access) = &reached.access {
            self.kubeconfig = Unknowable::Known(Some(access.kubeconfig.clone()));
            self.ca_certificate = Unknowable::Known(Some(access.ca_certificate.clone()));
        }
        if let Some(backup) = &reached.backup {
            self.last_backup = Unknowable::Known(Some(LastBackupModel {
                path: backup.path.display().to_string(),
                time: mke_k0s::kube::rfc3339(backup.taken_at),
                sha256: backup.sha256.clone(),
            }));
        }
    }

    /// Records the drift Read saw on one controller.
    pub fn record_drift(&mut self, key: &str, seen: &ControllerSeen) {
        if let Some(v) = &seen.version {
            self.k0s_version = v.clone();
        }
        if let Some(c) = &seen.k0s_config {
            self.k0s_config = Unknowable::Known(Some(c.clone()));
        }
        if let (Some(w), Some(c)) = (seen.workloads, self.controllers.get_mut(key)) {
            c.workloads = Some(w);
        }
    }

    /// The state after an import.
    pub fn imported(found: &ImportedCluster) -> ClusterModel {
        let n = &found.settings.network;
        let controllers = found
            .controllers
            .iter()
            .map(|(key, c)| {
                let model = ControllerModel {
                    address: c.address.clone(),
                    private_address: c.private_address.clone(),
                    port: c.port,
                    user: None,
                    host_key: Unknowable::Known(Some(c.host_key.clone())),
                    workloads: Some(c.workloads),
                };
                (key.clone(), model)
            })
            .collect();
        ClusterModel {
            name: found.name.clone(),
            k0s_version: found.version.clone(),
            k0s_binary_path: None,
            k0s_download_url: None,
            k0s_download_allow_http: None,
            k0s_sha256: None,
            backup: None,
            last_backup: Unknowable::Known(None),
            restore_from: None,
            controllers,
            api: found
                .settings
                .api
                .external_address
                .as_ref()
                .map(|a| ApiModel {
                    external_address: Some(a.clone()),
                    sans: None,
                }),
            network: Some(NetworkModel {
                pod_cidr: n.pod_cidr.clone(),
                service_cidr: n.service_cidr.clone(),
                cluster_domain: n.cluster_domain.clone(),
                kube_proxy_mode: n.kube_proxy_mode.to_string(),
                calico: CalicoModel {
                    mode: n.calico.mode.to_string(),
                    vxlan_port: n.calico.vxlan_port,
                    vxlan_vni: n.calico.vxlan_vni,
                    mtu: n.calico.mtu,
                    wireguard: n.calico.wireguard,
                },
            }),
            k0s_config_overrides: None,
            timeouts: None,
            id: Unknowable::Known(Some(found.id.clone())),
            marker_id: Unknowable::Known(found.instance.clone()),
            adopted_ca_sha256: Unknowable::Known(found.adopted_ca.clone()),
            unmanaged_install_flags: Unknowable::Known(Some(
                found
                    .controllers
                    .iter()
                    .filter(|(_, c)| !c.unmanaged_flags.is_empty())
                    .map(|(k, c)| (k.clone(), c.unmanaged_flags.join(" ")))
                    .collect(),
            )),
            api_endpoint: Unknowable::Known(Some(found.api_endpoint.clone())),
            kubeconfig: Unknowable::Known(Some(found.access.kubeconfig.clone())),
            ca_certificate: Unknowable::Known(Some(found.access.ca_certificate.clone())),
            controller_addresses: Unknowable::Known(Some(found.controller_addresses.clone())),
            k0s_config: Unknowable::Known(Some(found.k0s_config.clone())),
            host_status: Unknowable::Known(Some(
                found
                    .controllers
                    .iter()
                    .map(|(k, c)| (k.clone(), c.status.as_str().to_string()))
                    .collect(),
            )),
        }
    }
}

pub fn statuses(status: &BTreeMap<String, HostStatus>) -> BTreeMap<String, String> {
    status
        .iter()
        .map(|(k, s)| (k.clone(), s.as_str().to_string()))
        .collect()
}

/// Only the controllers and the id: enough to delete a cluster whatever else
/// its state holds.
#[derive(Debug, Deserialize)]
pub struct ControllersOnly {
    pub controllers: ControllersModel,
    pub id: Option<String>,
    pub marker_id: Option<String>,
    #[serde(default)]
    pub adopted_ca_sha256: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::phase::outputs::ClusterAccess;

    fn stored() -> ClusterModel {
        let controller = |address: &str| ControllerModel {
            address: address.into(),
            private_address: None,
            port: None,
            user: None,
            host_key: Unknowable::Unknown,
            workloads: Some(false),
        };
        ClusterModel {
            name: "demo".into(),
            k0s_version: mke_k0s::DEFAULT_K0S_VERSION.into(),
            k0s_binary_path: None,
            k0s_download_url: None,
            k0s_download_allow_http: None,
            k0s_sha256: None,
            controllers: BTreeMap::from([
                ("a".to_string(), controller("192.0.2.11")),
                ("b".to_string(), controller("192.0.2.12")),
            ]),
            api: None,
            network: None,
            k0s_config_overrides: None,
            backup: None,
            last_backup: Unknowable::Known(None),
            restore_from: None,
            timeouts: None,
            id: Unknowable::Unknown,
            marker_id: Unknowable::Unknown,
            adopted_ca_sha256: Unknowable::Known(None),
            unmanaged_install_flags: Unknowable::Known(None),
            api_endpoint: Unknowable::Known(Some("https://192.0.2.12:6443".into())),
            kubeconfig: Unknowable::Unknown,
            ca_certificate: Unknowable::Unknown,
            controller_addresses: Unknowable::Known(Some(vec![
                "192.0.2.12".into(),
                "192.0.2.11".into(),
            ])),
            k0s_config: Unknowable::Known(Some("apiVersion: k0s.k0sproject.io/v1beta1\n".into())),
            host_status: Unknowable::Unknown,
        }
    }

    #[test]
    fn the_model_round_trips_through_terraform_values() {
        let model = stored();
        assert_eq!(ClusterModel::decode(&model.encode()), Some(model));
    }

    #[test]
    fn the_plan_puts_the_leader_first_and_needs_the_rendered_config() {
        let plan = stored().plan(None).unwrap();
        assert_eq!(plan.order, vec!["b".to_string(), "a".to_string()]);
        let mut unrendered = stored();
        unrendered.k0s_config = Unknowable::Unknown;
        assert!(unrendered.plan(None).is_none());
    }

    #[test]
    fn what_the_hosts_reached_fills_unknowns_and_learned_keys_only() {
        let mut model = stored();
        model.controllers.get_mut("a").unwrap().host_key =
            Unknowable::Known(Some("ssh-ed25519 PINNED".into()));
        model.record(&ClusterReached {
            host_keys: BTreeMap::from([
                ("a".to_string(), "ssh-ed25519 OTHER".to_string()),
                ("b".to_string(), "ssh-ed25519 LEARNED".to_string()),
            ]),
            id: Some("uid-1".into()),
            host_status: Some(BTreeMap::from([("a".to_string(), HostStatus::Running)])),
            access: Some(ClusterAccess {
                kubeconfig: "kubeconfig".into(),
                ca_certificate: "ca".into(),
            }),
            ..ClusterReached::default()
        });
        let key = |k: &str| model.controllers[k].host_key.clone();
        assert_eq!(
            key("a"),
            Unknowable::Known(Some("ssh-ed25519 PINNED".into()))
        );
        assert_eq!(
            key("b"),
            Unknowable::Known(Some("ssh-ed25519 LEARNED".into()))
        );
        assert_eq!(model.id, Unknowable::Known(Some("uid-1".into())));
        assert_eq!(model.ca_certificate, Unknowable::Known(Some("ca".into())));
        let mut state = model.encode();
        nulls_for_unknowns(&mut state);
        assert!(state.is_wholly_known());
    }

    #[test]
    fn a_failed_update_keeps_unfinished_removals_and_changed_hosts_only() {
        let prior = stored();
        let mut planned = stored();
        // "b" stays, "a" leaves, "c" and "d" are new.
        planned.controllers.remove("a");
        let new = |address: &str| ControllerModel {
            address: address.into(),
            ..prior.controllers["a"].clone()
        };
        planned.controllers.insert("c".into(), new("192.0.2.13"));
        planned.controllers.insert("d".into(), new("192.0.2.14"));
        let reached = ClusterReached {
            changed: ["c".to_string()].into(),
            ..ClusterReached::default()
        };
        let mut kept = planned.clone();
        kept.keep_only(&reached, Some(&prior));
        let addresses: Vec<&str> = kept
            .controllers
            .values()
            .map(|c| c.address.as_str())
            .collect();
        // a's removal did not finish; d was never touched.
        assert_eq!(addresses, vec!["192.0.2.11", "192.0.2.12", "192.0.2.13"]);

        let reached = ClusterReached {
            changed: ["c".to_string()].into(),
            removed: ["192.0.2.11".to_string()].into(),
            ..ClusterReached::default()
        };
        let mut kept = planned;
        kept.keep_only(&reached, Some(&prior));
        assert!(!kept.controllers.contains_key("a"));
    }
}
