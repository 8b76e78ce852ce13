//! The edge where typed outcomes of host work become what a Terraform user
//! reads: errors with the way out, and warnings.

use tfplugin::Diagnostics;

use crate::ops::kubeconfig::KubeconfigError;
use crate::ops::{OpError, Warning};

/// What a user can do about an error.
pub fn hint(e: &OpError) -> String {
    match e {
        OpError::Ssh(e) => super::advice::ssh(e),
        OpError::Host { hint, .. } => hint.clone(),
        OpError::NotConfigured => "Add a provider \"mke\" block.".into(),
        OpError::Timeout { .. } => "Raise the resource's `timeouts`, or check the host's k0s \
                                    logs (`journalctl -u k0scontroller` / `k0sworker`)."
            .into(),
        OpError::Cancelled { .. } => "Run `terraform apply` again to finish.".into(),
        OpError::LocalBinary { .. } => "Check `k0s_binary_path`.".into(),
        OpError::BackupArchive { .. } => "Check `restore_from`: it must name an archive that \
            `k0s backup` (or the `mke_backup` action, or `backup` of `mke_cluster`) wrote, \
            unchanged; compare it with the `.sha256` file beside it."
            .into(),
        OpError::LocalFile { .. } => "Check that the directory exists or can be created, and \
                                      that the user running Terraform may write there."
            .into(),
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

/// Warnings: the error behind each (with the way out), then what it means.
pub fn warnings(d: &mut Diagnostics, warnings: &[Warning]) {
    for w in warnings {
        let mut text = String::new();
        if let Some(cause) = &w.cause {
            text.push_str(&cause.to_string());
            let hint = hint(cause);
            if !hint.is_empty() {
                text.push_str("\n\n");
                text.push_str(&hint);
            }
            text.push_str("\n\n");
        }
        text.push_str(&w.detail);
        d.warning(w.summary.clone(), text);
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
