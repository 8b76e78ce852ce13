//! `mke_node` as typed values: the model plans and state decode into, the
//! [`NodePlan`] host work runs on, and the state built from outcomes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::tfvalue::{from_value, to_value, Unknowable, Value};

use crate::ops::node::{ImportedNode, NodeObserved, NodePlan, NodeReached};
use crate::ops::phase::stage::BinarySource;
use crate::resources::cluster::TimeoutsModel;
use crate::resources::controllers::{self, ControllersModel};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeModel {
    pub cluster_id: String,
    pub controllers: Option<ControllersModel>,
    pub k0s_version: String,
    pub k0s_binary_path: Option<String>,
    pub k0s_download_url: Option<String>,
    pub k0s_download_allow_http: Option<bool>,
    pub k0s_sha256: Option<String>,
    pub address: String,
    pub private_address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub host_key: Unknowable<Option<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub taints: Option<Vec<String>>,
    pub drain_timeout: Option<String>,
    pub timeouts: Option<TimeoutsModel>,
    pub id: Unknowable<Option<String>>,
    pub marker_id: Unknowable<Option<String>>,
    pub adopted_ca_sha256: Unknowable<Option<String>>,
    pub unmanaged_install_flags: Unknowable<Option<Vec<String>>>,
    pub node_name: Unknowable<Option<String>>,
    pub status: Unknowable<Option<String>>,
}

const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// `drain_timeout`'s default in the schema.
pub const DEFAULT_DRAIN_TIMEOUT_TEXT: &str = "5m";

impl NodeModel {
    pub fn decode(value: &Value) -> Option<NodeModel> {
        from_value(value).ok()
    }

    pub fn encode(&self) -> Value {
        to_value(self).expect("the node model matches its schema")
    }

    pub fn plan(&self, instance: Option<&str>) -> NodePlan {
        NodePlan {
            cluster_id: self.cluster_id.clone(),
            version: self.k0s_version.clone(),
            source: BinarySource::configured(
                self.k0s_binary_path.as_deref(),
                self.k0s_download_url.as_deref(),
                self.k0s_download_allow_http.unwrap_or(false),
                self.k0s_sha256.as_deref(),
            ),
            address: self.address.clone(),
            private_address: self.private_address.clone(),
            port: self.port,
            user: self.user.clone(),
            host_key: self.host_key.known().cloned().flatten(),
            labels: self.labels.clone().unwrap_or_default(),
            taints: self.taints.clone().unwrap_or_default(),
            drain_timeout: self
                .drain_timeout
                .as_deref()
                .and_then(|d| mke_k0s::parse_duration(d).ok())
                .unwrap_or(DEFAULT_DRAIN_TIMEOUT),
            controllers: self
                .controllers
                .as_ref()
                .map(controllers::hosts)
                .unwrap_or_default(),
            node_name: self.node_name.known().cloned().flatten(),
            status: self.status.known().cloned().flatten(),
            instance: instance.map(str::to_string),
            adopted_ca: self.adopted_ca_sha256.known().cloned().flatten(),
        }
    }

    fn record_controller_keys(&mut self, keys: &BTreeMap<String, String>) {
        if let Some(c) = &mut self.controllers {
            controllers::record_host_keys(c, keys);
        }
    }

    /// Writes what the hosts reached into the model.
    pub fn record(&mut self, reached: &NodeReached) {
        if let Some(key) = &reached.host_key {
            self.host_key = Unknowable::Known(Some(key.clone()));
        }
        self.record_controller_keys(&reached.controller_keys);
        if let Some(name) = &reached.node_name {
            self.node_name = Unknowable::Known(Some(name.clone()));
            self.id = Unknowable::Known(Some(format!("{}/{name}", self.cluster_id)));
        }
        if let Some(status) = reached.status {
            self.status = Unknowable::Known(Some(status.as_str().into()));
        }
    }

    /// Records what Read saw. Only the label and taint keys the resource
    /// manages are compared, so labels set by others are not drift.
    pub fn record_observed(&mut self, seen: &NodeObserved) {
        if let Some(v) = &seen.version {
            self.k0s_version = v.clone();
        }
        self.record_controller_keys(&seen.controller_keys);
        if let (Some(labels), true) = (&seen.labels, self.labels.is_some()) {
            self.labels = Some(labels.clone());
        }
        let managed_taints = self.taints.as_ref().is_some_and(|t| !t.is_empty());
        if let (Some(taints), true) = (&seen.taints, managed_taints) {
            self.taints = Some(taints.clone());
        }
        if let Some(status) = seen.status {
            self.status = Unknowable::Known(Some(status.as_str().into()));
        }
    }

    /// The state after an import.
    pub fn imported(found: &ImportedNode) -> NodeModel {
        NodeModel {
            cluster_id: found.cluster_id.clone(),
            controllers: None,
            k0s_version: found.version.clone(),
            k0s_binary_path: None,
            // The defaults a configuration without them plans, so that
            // leaving them out plans no change.
            k0s_download_url: Some(mke_k0s::DEFAULT_DOWNLOAD_URL.into()),
            k0s_download_allow_http: Some(false),
            k0s_sha256: None,
            address: found.address.clone(),
            private_address: found.private_address.clone(),
            port: found.port,
            user: None,
            host_key: Unknowable::Known(Some(found.host_key.clone())),
            labels: (!found.labels.is_empty()).then(|| found.labels.clone()),
            taints: (!found.taints.is_empty()).then(|| found.taints.clone()),
            drain_timeout: Some(DEFAULT_DRAIN_TIMEOUT_TEXT.into()),
            timeouts: None,
            id: Unknowable::Known(Some(format!("{}/{}", found.cluster_id, found.node_name))),
            marker_id: Unknowable::Known(found.instance.clone()),
            adopted_ca_sha256: Unknowable::Known(found.adopted_ca.clone()),
            unmanaged_install_flags: Unknowable::Known(Some(found.unmanaged_flags.clone())),
            node_name: Unknowable::Known(Some(found.node_name.clone())),
            status: Unknowable::Known(Some(found.status.as_str().into())),
        }
    }
}
