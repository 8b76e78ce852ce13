//! Phase `wipe`: stop and reset k0s, then remove its binary, config and
//! data. Only for a host the resource owns.

use std::time::Duration;

use mke_ssh::Command;

use super::ownership::Owned;
use crate::ops::{OpError, Step};

pub async fn wipe(owned: &Owned) -> Result<(), OpError> {
    let host = owned.host();
    let step = Step::start(host.name(), "stop and reset k0s");
    host.check(
        &Command::new(mke_k0s::cli::wipe_script())
            .timeout(Duration::from_secs(300))
            .display("k0s stop; k0s reset; remove k0s files"),
    )
    .await?;
    step.done();
    Ok(())
}
