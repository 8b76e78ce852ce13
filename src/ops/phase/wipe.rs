//! Phase `wipe`: stop and reset k0s, then remove its binary, config and
//! data. Only for a host the resource owns.

use std::time::Duration;

use mke_ssh::Command;

use super::ownership::Owned;
use crate::ops::{OpError, Step};

pub async fn wipe(owned: &Owned) -> Result<(), OpError> {
    let host = owned.host();
    let step = Step::start(host.name(), "stop and reset k0s");
    let k0s = mke_k0s::K0S_BINARY_PATH;
    let script = format!(
        "k={k0s}; if [ -x \"$k\" ]; then \
           out=$(\"$k\" stop 2>&1) || case \"$out\" in *'already stopped'*|*'not been installed'*|*'failed state'*) ;; *) echo \"$out\" >&2; exit 1;; esac; \
           out=$(\"$k\" reset 2>&1) || case \"$out\" in *'not been installed'*) ;; *) echo \"$out\" >&2; exit 1;; esac; \
         fi; rm -rf /etc/k0s /var/lib/k0s /run/k0s \"$k\""
    );
    host.check(
        &Command::new(script)
            .timeout(Duration::from_secs(300))
            .display("k0s stop; k0s reset; remove k0s files"),
    )
    .await?;
    step.done();
    Ok(())
}
