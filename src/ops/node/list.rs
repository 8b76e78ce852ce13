//! Listing for `terraform query`: the workers a cluster has registered, from
//! one `kubectl get nodes -o json` on the first controller that answers.
//! Controllers are reached only with their pinned host keys (a listing keeps
//! no state to record a key in).

use std::collections::BTreeMap;

use crate::ops::node_list::list_nodes;
use crate::ops::phase::connect::first_controller;
use crate::ops::{ControllerHost, OpError, Runtime};

/// A worker's Node, as the cluster registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedWorker {
    pub node_name: String,
    /// The Node's `InternalIP`: the address its `mke_node` is imported by.
    /// `None` when the kubelet registered none.
    pub address: Option<String>,
}

/// Every Node except the controllers' own (a controller that runs
/// workloads registers a Node too; it belongs to `mke_cluster`), by name.
pub async fn list_workers(
    rt: &Runtime,
    controllers: &BTreeMap<String, ControllerHost>,
) -> Result<Vec<ListedWorker>, OpError> {
    let mut host_keys = BTreeMap::new();
    let cluster = controllers
        .values()
        .next()
        .map(|c| c.address.clone())
        .unwrap_or_default();
    let controller =
        first_controller(rt, controllers, rt.quick(), &mut host_keys, &cluster).await?;
    let nodes = list_nodes(&controller).await?;
    Ok(workers(nodes.into_values(), controllers))
}

fn workers(
    nodes: impl IntoIterator<Item = mke_k0s::NodeInfo>,
    controllers: &BTreeMap<String, ControllerHost>,
) -> Vec<ListedWorker> {
    let is_controller_address = |ip: &str| {
        controllers
            .values()
            .any(|c| c.address.eq_ignore_ascii_case(ip) || c.private_address.as_deref() == Some(ip))
    };
    nodes
        .into_iter()
        .filter(|n| !n.is_control_plane())
        .filter(|n| !n.internal_ip.as_deref().is_some_and(is_controller_address))
        .map(|n| ListedWorker {
            node_name: n.name,
            address: n.internal_ip,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller(address: &str, private_address: Option<&str>) -> ControllerHost {
        ControllerHost {
            address: address.into(),
            private_address: private_address.map(str::to_string),
            port: None,
            user: None,
            host_key: None,
            workloads: true,
        }
    }

    #[test]
    fn controllers_nodes_are_not_workers() {
        let list = r#"{"items": [
            {"metadata": {"name": "c1", "labels": {"node-role.kubernetes.io/control-plane": "true"}},
             "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}},
            {"metadata": {"name": "c2"},
             "status": {"addresses": [{"type": "InternalIP", "address": "10.0.1.12"}]}},
            {"metadata": {"name": "w1"},
             "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.21"}]}},
            {"metadata": {"name": "w2"}}
        ]}"#;
        let nodes = mke_k0s::node::parse_node_list(list).unwrap();
        let controllers = BTreeMap::from([
            ("c1".to_string(), controller("10.0.0.11", None)),
            (
                "c2".to_string(),
                controller("192.0.2.12", Some("10.0.1.12")),
            ),
        ]);
        assert_eq!(
            workers(nodes.into_values(), &controllers),
            vec![
                ListedWorker {
                    node_name: "w1".into(),
                    address: Some("10.0.0.21".into())
                },
                ListedWorker {
                    node_name: "w2".into(),
                    address: None
                },
            ]
        );
    }
}
