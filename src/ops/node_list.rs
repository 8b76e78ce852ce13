//! The Node objects of a cluster, listed once for every `mke_node` refreshed
//! at about the same time: a refresh of 50 nodes then costs the controller
//! one `kubectl get nodes` instead of 50 round trips.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mke_k0s::NodeInfo;
use mke_ssh::{Command, Host};

use super::OpError;

/// How long one listing serves later reads: a whole refresh. Terraform runs
/// a refresh in a provider process of its own, and every change to a node
/// made by this process forgets the listings.
const NODE_LIST_FRESH: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct NodeLists {
    by_controller: tokio::sync::Mutex<BTreeMap<String, Listing>>,
}

/// When a controller's nodes were listed, and what they were.
type Listing = (Instant, Arc<BTreeMap<String, NodeInfo>>);

impl NodeLists {
    pub async fn forget(&self) {
        self.by_controller.lock().await.clear();
    }

    pub async fn lookup(&self, controller: &Host, name: &str) -> Result<Option<NodeInfo>, OpError> {
        // Held across the fetch, so concurrent reads wait for one listing.
        let mut cache = self.by_controller.lock().await;
        if let Some((at, nodes)) = cache.get(controller.name()) {
            if at.elapsed() < NODE_LIST_FRESH {
                return Ok(nodes.get(name).cloned());
            }
        }
        let nodes = Arc::new(list_nodes(controller).await?);
        cache.insert(
            controller.name().to_string(),
            (Instant::now(), nodes.clone()),
        );
        Ok(nodes.get(name).cloned())
    }
}

pub(crate) async fn list_nodes(controller: &Host) -> Result<BTreeMap<String, NodeInfo>, OpError> {
    let out = controller
        .check(&Command::new(mke_k0s::cli::kubectl_get_nodes_json()))
        .await?;
    mke_k0s::node::parse_node_list(&out).map_err(|e| {
        OpError::host(
            controller.name(),
            format!("unexpected node list: {e}"),
            "Check k0s on the controller.",
        )
    })
}
