//! Phase `outputs`: the admin kubeconfig (server set to the API endpoint)
//! and the cluster CA, read from a controller.

use mke_ssh::{Command, Host};

use crate::ops::{OpError, Step};

#[derive(Clone)]
pub struct ClusterAccess {
    /// Holds the admin credentials: never logged.
    pub kubeconfig: String,
    pub ca_certificate: String,
}

impl std::fmt::Debug for ClusterAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAccess")
            .field("kubeconfig", &"<redacted>")
            .field("ca_certificate", &self.ca_certificate)
            .finish()
    }
}

pub async fn admin_access(host: &Host, api_endpoint: &str) -> Result<ClusterAccess, OpError> {
    let step = Step::start(host.name(), "read admin kubeconfig");
    let admin = host
        .check(&Command::new(mke_k0s::cli::kubeconfig_admin()).display("k0s kubeconfig admin"))
        .await?;
    let bad = |e: mke_k0s::ParseError| {
        OpError::host(
            host.name(),
            format!("unexpected kubeconfig: {e}"),
            "Check k0s on the leader.",
        )
    };
    let kubeconfig = mke_k0s::kubeconfig_with_server(&admin, api_endpoint).map_err(bad)?;
    let ca_certificate = mke_k0s::parse_kubeconfig(&admin)
        .map_err(bad)?
        .ca_certificate;
    step.done();
    Ok(ClusterAccess {
        kubeconfig,
        ca_certificate,
    })
}
