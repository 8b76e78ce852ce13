//! Kubernetes node facts: taints, labels, and the parts of a Node object the provider reads.
//! The syntax rules of labels and taints, and the taint type itself, live in [`crate::validate`].

use serde::Deserialize as _;
use std::collections::BTreeMap;

use crate::validate::{check_label_key, check_label_value, LabelKeyError, LabelValueError};
pub use crate::validate::{Taint, TaintEffect};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    LabelKey(#[from] LabelKeyError),
    #[error("label {key:?}: {source}")]
    LabelValue {
        key: String,
        source: LabelValueError,
    },
    #[error("cannot parse the Node JSON: {message}")]
    NodeJson { message: String },
}

/// Checks a label the way the API server will, so a bad one is refused before it reaches a host.
pub fn validate_label(key: &str, value: &str) -> Result<(), NodeError> {
    check_label_key(key)?;
    check_label_value(value).map_err(|source| NodeError::LabelValue {
        key: key.to_owned(),
        source,
    })
}

/// What the provider reads from `kubectl get node -o json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// e.g. `v1.29.3+k0s`.
    pub kubelet_version: String,
    /// When the kubelet last reported the `Ready` condition (`lastHeartbeatTime`), in seconds
    /// since the epoch. A Node stays Ready for a grace period after its kubelet stopped, so only
    /// a heartbeat newer than one read before a restart proves the kubelet came back.
    pub ready_heartbeat: Option<i64>,
    /// The first `InternalIP` among `status.addresses`: the address the kubelet registered.
    pub internal_ip: Option<String>,
}

/// The label Kubernetes (and k0s, on a controller that also runs workloads) gives control-plane
/// Nodes.
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

impl NodeInfo {
    /// A controller's Node (k0s `--enable-worker`), not a worker's.
    pub fn is_control_plane(&self) -> bool {
        self.labels.contains_key(CONTROL_PLANE_LABEL)
    }
}

#[derive(serde::Deserialize)]
struct NodeJson {
    metadata: NodeMetadata,
    #[serde(default)]
    spec: NodeSpecJson,
    #[serde(default)]
    status: NodeStatusJson,
}

#[derive(serde::Deserialize)]
struct NodeMetadata {
    name: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Default, serde::Deserialize)]
struct NodeSpecJson {
    #[serde(default)]
    taints: Vec<TaintJson>,
    #[serde(default)]
    unschedulable: bool,
}

#[derive(serde::Deserialize)]
struct TaintJson {
    key: String,
    #[serde(default)]
    value: String,
    effect: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeStatusJson {
    #[serde(default)]
    conditions: Vec<ConditionJson>,
    #[serde(default)]
    node_info: NodeSystemInfoJson,
    #[serde(default)]
    addresses: Vec<NodeAddressJson>,
}

#[derive(serde::Deserialize)]
struct NodeAddressJson {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConditionJson {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    #[serde(default)]
    last_heartbeat_time: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeSystemInfoJson {
    #[serde(default)]
    kubelet_version: String,
}

/// Reads the Node that [`crate::cli::kubectl_get_node_json`] prints.
pub fn parse_node_json(text: &str) -> Result<NodeInfo, NodeError> {
    let node: NodeJson = serde_json::from_str(text).map_err(|error| NodeError::NodeJson {
        message: error.to_string(),
    })?;
    node_info(node)
}

/// Reads the `List` that [`crate::cli::kubectl_get_nodes_json`] prints, by node name. A list
/// without `items` has no nodes.
pub fn parse_node_list(text: &str) -> Result<BTreeMap<String, NodeInfo>, NodeError> {
    let json_error = |error: serde_json::Error| NodeError::NodeJson {
        message: error.to_string(),
    };
    let list: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
    let mut nodes = BTreeMap::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let node = NodeJson::deserialize(item).map_err(json_error)?;
        let info = node_info(node)?;
        nodes.insert(info.name.clone(), info);
    }
    Ok(nodes)
}

fn node_info(node: NodeJson) -> Result<NodeInfo, NodeError> {
    let taints = node
        .spec
        .taints
        .into_iter()
        .map(|taint| {
            let written = if taint.value.is_empty() {
                format!("{}:{}", taint.key, taint.effect)
            } else {
                format!("{}={}:{}", taint.key, taint.value, taint.effect)
            };
            written
                .parse::<Taint>()
                .map_err(|error| NodeError::NodeJson {
                    message: error.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ready_condition = node.status.conditions.iter().find(|c| c.kind == "Ready");
    let ready = ready_condition.is_some_and(|c| c.status == "True");
    let ready_heartbeat =
        ready_condition.and_then(|c| crate::kube::parse_rfc3339(&c.last_heartbeat_time));
    Ok(NodeInfo {
        name: node.metadata.name,
        uid: node.metadata.uid,
        labels: node.metadata.labels,
        taints,
        unschedulable: node.spec.unschedulable,
        ready,
        kubelet_version: node.status.node_info.kubelet_version,
        ready_heartbeat,
        internal_ip: node
            .status
            .addresses
            .into_iter()
            .find(|a| a.kind == "InternalIP")
            .map(|a| a.address),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_round_trip() {
        for text in [
            "dedicated=web:NoSchedule",
            "gpu:NoExecute",
            "example.com/role=db:PreferNoSchedule",
        ] {
            assert_eq!(text.parse::<Taint>().unwrap().to_string(), text);
        }
        assert!("dedicated=web".parse::<Taint>().is_err());
    }

    #[test]
    fn labels_follow_kubernetes_rules() {
        validate_label("tier", "web").unwrap();
        validate_label("example.com/tier", "").unwrap();
        assert_eq!(
            validate_label("Example.com/tier", "x").unwrap_err().to_string(),
            "\"Example.com/tier\" is not a Kubernetes label key: use [prefix/]name, where name is up to 63 letters, digits, '-', '_' or '.'"
        );
        assert_eq!(
            validate_label("tier", "a,b").unwrap_err().to_string(),
            "label \"tier\": \"a,b\" is not a Kubernetes label value: use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        );
        assert!(validate_label("tier", &"x".repeat(64)).is_err());
    }

    #[test]
    fn node_json_gives_labels_taints_and_readiness() {
        let json = r#"{
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "w1", "uid": "1b6c0e2a-5f00-4a61-9d5e-3f3c2d1e0f00",
                         "labels": {"kubernetes.io/hostname": "w1", "tier": "web"}},
            "spec": {"podCIDR": "10.244.1.0/24", "unschedulable": true,
                     "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"},
                                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": "2024-04-02T10:00:00Z"}]},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-04-02T10:00:05Z"}],
                       "nodeInfo": {"kubeletVersion": "v1.29.3+k0s", "osImage": "Ubuntu 22.04.4 LTS"}}
        }"#;
        let node = parse_node_json(json).unwrap();
        assert_eq!(node.name, "w1");
        assert_eq!(node.labels["tier"], "web");
        assert_eq!(
            node.taints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec![
                "dedicated=web:NoSchedule",
                "node.kubernetes.io/unschedulable:NoSchedule"
            ]
        );
        assert!(node.unschedulable);
        assert!(node.ready);
        assert_eq!(node.kubelet_version, "v1.29.3+k0s");
        assert_eq!(node.ready_heartbeat, Some(1_712_052_005));
    }

    #[test]
    fn the_node_list_is_keyed_by_name() {
        let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
            {"metadata": {"name": "w2", "uid": "u2"}},
            {"metadata": {"name": "cp1", "uid": "u1", "labels": {"node-role.kubernetes.io/control-plane": "true"}},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        ]}"#;
        let nodes = parse_node_list(json).unwrap();
        assert_eq!(nodes.keys().collect::<Vec<_>>(), ["cp1", "w2"]);
        assert!(nodes["cp1"].ready);
        assert_eq!(nodes["w2"].uid, "u2");
        assert!(parse_node_list(r#"{"kind": "List"}"#).unwrap().is_empty());
        assert!(parse_node_list("No resources found").is_err());
        let nameless = parse_node_list(r#"{"items": [{"metadata": {}}]}"#).unwrap_err();
        assert!(
            nameless
                .to_string()
                .starts_with("cannot parse the Node JSON: missing field `name`"),
            "{nameless}"
        );
    }

    #[test]
    fn a_node_without_spec_or_status_is_not_ready() {
        let node = parse_node_json(r#"{"metadata": {"name": "w2"}}"#).unwrap();
        assert!(!node.ready);
        assert!(node.taints.is_empty());
        assert!(parse_node_json("not json").is_err());
        assert_eq!(node.internal_ip, None);
        assert!(!node.is_control_plane());
    }

    #[test]
    fn the_internal_ip_and_the_control_plane_role_are_read() {
        let json = r#"{"items": [
            {"metadata": {"name": "w1"},
             "status": {"addresses": [{"type": "Hostname", "address": "w1"}, {"type": "InternalIP", "address": "10.0.0.21"}, {"type": "InternalIP", "address": "fd00::21"}]}},
            {"metadata": {"name": "cp1", "labels": {"node-role.kubernetes.io/control-plane": "true"}},
             "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}}
        ]}"#;
        let nodes = parse_node_list(json).unwrap();
        assert_eq!(nodes["w1"].internal_ip.as_deref(), Some("10.0.0.21"));
        assert!(!nodes["w1"].is_control_plane());
        assert_eq!(nodes["cp1"].internal_ip.as_deref(), Some("10.0.0.11"));
        assert!(nodes["cp1"].is_control_plane());
    }
}
