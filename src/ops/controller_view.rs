//! What a joining worker needs to know about the controller it joins through: which cluster
//! the controller serves (its marker) and the k0s version it runs (the version-skew check).
//! Read once per controller per process, for every worker joining at the same time: each
//! worker then costs the controller only its own join token. Cluster operations forget it.

use std::collections::BTreeMap;
use std::sync::Arc;

use mke_ssh::{Command, Host};
use tokio::sync::{Mutex, OnceCell};

use super::phase::marker::{read_marker, Marker};
use super::OpError;

#[derive(Debug, Clone)]
pub struct ControllerView {
    pub marker: Option<Marker>,
    /// `None` when `k0s status` did not answer: the join then fails with its own message.
    pub version: Option<String>,
}

#[derive(Default)]
pub struct ControllerViews {
    by_controller: Mutex<BTreeMap<String, Arc<OnceCell<ControllerView>>>>,
}

impl ControllerViews {
    /// The view of `controller`, read on first use; a failed read is not kept.
    pub async fn get(&self, controller: &Host) -> Result<ControllerView, OpError> {
        let cell = self
            .by_controller
            .lock()
            .await
            .entry(controller.name().to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| read(controller)).await.cloned()
    }

    /// After a cluster operation, which may have changed markers and versions.
    pub async fn forget(&self) {
        self.by_controller.lock().await.clear();
    }
}

async fn read(controller: &Host) -> Result<ControllerView, OpError> {
    let marker = read_marker(controller).await?;
    let out = controller
        .run(&Command::new(mke_k0s::cli::status_json()).display("k0s status"))
        .await?;
    let version = mke_k0s::parse_status_json(&out.stdout)
        .ok()
        .map(|status| status.version);
    Ok(ControllerView { marker, version })
}
