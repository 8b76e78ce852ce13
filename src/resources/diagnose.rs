//! The edge where typed outcomes of host work become what a Terraform user
//! reads: errors with the way out, and warnings.

use tfplugin::Diagnostics;

use crate::ops::kubeconfig::KubeconfigError;
use crate::ops::{OpError, Warning};

/// What a user can do about an error.
pub fn hint(e: &OpError) -> String {
    match e {
        OpError::Ssh(e) if e.is_unreachable() => {
            "Check that the host is up, that the address and port are right, and that it \
             accepts your SSH key; then run `terraform apply` again."
                .into()
        }
        // The SSH error already says how to accept a legitimately new key.
        OpError::Ssh(mke_ssh::SshError::HostKeyChanged { .. }) => String::new(),
        OpError::Ssh(_) => "Fix the cause shown above and run `terraform apply` again; the \
                             state records what was already done."
            .into(),
        OpError::Host { hint, .. } => hint.clone(),
        OpError::NotConfigured => "Add a provider \"mke\" block.".into(),
        OpError::Timeout { .. } => "Raise the resource's `timeouts`, or check the host's k0s \
                                    logs (`journalctl -u k0scontroller` / `k0sworker`)."
            .into(),
        OpError::Cancelled { .. } => "Run `terraform apply` again to finish.".into(),
        OpError::LocalBinary { .. } => "Check `k0s_binary_path`.".into(),
        OpError::RemovingController { source, .. } => hint(source),
        OpError::UnknownAtApply { .. } => {
            "Run `terraform apply` again; if it repeats, report it as a provider bug.".into()
        }
    }
}

/// One error diagnostic: the error, then the way out.
pub fn error(summary: &str, e: &OpError) -> Diagnostics {
    let mut d = Diagnostics::new();
    let hint = hint(e);
    if hint.is_empty() {
        d.error(summary, e.to_string());
    } else {
        d.error(summary, format!("{e}\n\n{hint}"));
    }
    d
}

pub fn warnings(d: &mut Diagnostics, warnings: &[Warning]) {
    for w in warnings {
        d.warning(w.summary.clone(), w.detail.clone());
    }
}

fn kubeconfig_hint(e: &KubeconfigError) -> String {
    match e {
        KubeconfigError::Op(e) => hint(e),
        KubeconfigError::NoControllerAnswered { .. } => {
            "Check that at least one controller is up and accepts your SSH key, then run \
             Terraform again."
                .into()
        }
        KubeconfigError::UnpinnedController { .. } => {
            "Pass `mke_cluster.<name>.controllers`, which carries the keys the cluster pinned."
                .into()
        }
    }
}

pub fn kubeconfig_error(summary: &str, e: &KubeconfigError) -> Diagnostics {
    let mut d = Diagnostics::new();
    let hint = kubeconfig_hint(e);
    if hint.is_empty() {
        d.error(summary, e.to_string());
    } else {
        d.error(summary, format!("{e}\n\n{hint}"));
    }
    d
}
