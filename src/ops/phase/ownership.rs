//! Ownership: the only kind of host a destructive phase (`wipe`, a stop for
//! removal) accepts is an [`Owned`] one, so every such step goes through the
//! one place that decides whether a host belongs to the resource.

use std::sync::Arc;

use mke_ssh::Host;

/// A host the resource may destroy k0s on.
pub struct Owned {
    host: Arc<Host>,
}

impl Owned {
    /// Takes a host as the resource's own without reading its marker.
    ///
    /// Temporary: this keeps today's behaviour while the marker rules are
    /// written; once they exist, ownership is obtained only by matching the
    /// host's `/etc/k0s/mke.json` to the resource, and this goes.
    pub fn unchecked(host: Arc<Host>) -> Owned {
        Owned { host }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }
}
