//! Delete: on every controller in parallel, connect → lock → wipe.

use std::collections::BTreeMap;

use crate::ops::phase::ownership::Owned;
use crate::ops::phase::wipe;
use crate::ops::{ControllerHost, OpError, Runtime};

/// The outcome on each controller, by key.
pub async fn delete(
    rt: &Runtime,
    controllers: &BTreeMap<String, ControllerHost>,
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
        let r = wipe::wipe(&Owned::unchecked(host)).await;
        lock.release().await;
        (key, r)
    })
    .await
}
