//! Delete: on every controller in parallel, connect → lock → probe → the
//! host must be the cluster's own → wipe.

use crate::ops::phase::ownership::Owned;
use crate::ops::phase::{probe, wipe};
use crate::ops::{ControllerHost, OpError, Runtime};

use std::collections::BTreeMap;

use crate::ops::phase::ownership::Claim;

/// Whose controllers they are: the cluster id in state and the resource's
/// instance id.
pub struct Owner {
    pub id: String,
    pub instance: Option<String>,
}

impl Owner {
    fn claim(&self) -> Claim<'_> {
        Claim {
            cluster_id: &self.id,
            role: "controller",
            instance: self.instance.as_deref(),
            resource: "mke_cluster",
        }
    }
}

/// The outcome on each controller, by key.
pub async fn delete(
    rt: &Runtime,
    controllers: &BTreeMap<String, ControllerHost>,
    owner: &Owner,
) -> Vec<(String, Result<(), OpError>)> {
    let items: Vec<(String, ControllerHost)> = controllers.clone().into_iter().collect();
    rt.each(items, |(key, c)| async move {
        let host = match rt.connect(&c.target(), rt.quick()).await {
            Ok(h) => h,
            Err(e) => return (key, Err(e)),
        };
        let lock = match rt.lock(&host).await {
            Ok(l) => l,
            Err(e) => return (key, Err(e)),
        };
        let r = async {
            let facts = probe::probe(&host).await?;
            match Owned::claim(host.clone(), &facts, &owner.claim())? {
                Some(owned) => wipe::wipe(&owned).await,
                None => Ok(()),
            }
        }
        .await;
        lock.release().await;
        (key, r)
    })
    .await
}
