//! What a user can do about an SSH failure. `mke-ssh` reports facts (host, user, fingerprints,
//! what ssh or sudo said); the advice that names this provider's attributes and Terraform's
//! commands is worded here, at the edge where those names mean something.

use mke_ssh::SshError;

use tfplugin::Diagnostics;

use crate::ops::OpError;
use crate::resources::diagnose;

/// When nothing answered at the host's address.
const UNREACHABLE: &str = "Check that the host is up and that the address and port are right; \
                           then run `terraform apply` again.";

/// When a machine that answered refused the login.
const CHECK_THE_KEY: &str = "Check that the host accepts your SSH key (its user's \
                             ~/.ssh/authorized_keys); then run `terraform apply` again.";

/// After a read or destroy failed on a host that may be running: it is never taken for gone.
const NOT_GONE: &str = "The host is not treated as gone while it answers this way, so nothing \
                        was changed. If the machine no longer exists, `terraform state rm` \
                        forgets the resource without touching any host.";

/// When the host was reached and something on it failed.
const FIX_AND_RETRY: &str = "Fix the cause shown above and run `terraform apply` again; the state \
                             records what was already done.";

/// The hint shown below an SSH error, after a blank line.
pub fn ssh(e: &SshError) -> String {
    match e {
        SshError::HostKeyChanged { .. } => "If the host was legitimately rebuilt, set host_key to \
                                            the new key and run `terraform apply -refresh=false`."
            .into(),
        SshError::LoginRefused { .. } => {
            format!("Check private_key or the keys in ssh-agent. {CHECK_THE_KEY}")
        }
        SshError::BastionLoginRefused { .. } => {
            format!("Check bastion_private_key or the keys in ssh-agent. {CHECK_THE_KEY}")
        }
        SshError::BastionHostKeyUnknown { .. } => {
            format!("Add it to ~/.ssh/known_hosts or set bastion_host_key. {UNREACHABLE}")
        }
        SshError::BastionConnect { .. } => {
            format!("Check bastion_host and bastion_port and that the bastion is up. {UNREACHABLE}")
        }
        SshError::ConnectionRefused { .. } => format!(
            "Nothing accepts SSH connections on that port: check the port and that sshd runs. \
             {UNREACHABLE}"
        ),
        SshError::Unreachable { .. } | SshError::Connect { .. } => UNREACHABLE.into(),
        SshError::SudoNeedsPassword { user, .. } => format!(
            "Add a NOPASSWD rule for {user} in /etc/sudoers.d or connect as root. {FIX_AND_RETRY}"
        ),
        _ => FIX_AND_RETRY.into(),
    }
}

/// An error of a read or destroy. When a host (or the bastion, or a
/// controller on the way) could be reached but not used, it also says that
/// such a host is not taken for gone, and the way out when the user knows
/// the machine is.
pub fn read_or_destroy_error(summary: &str, e: &OpError) -> Diagnostics {
    let mut text = e.to_string();
    for more in [diagnose::hint(e).as_str(), not_gone(e).unwrap_or_default()] {
        if !more.is_empty() {
            text.push_str("\n\n");
            text.push_str(more);
        }
    }
    let mut d = Diagnostics::new();
    d.error(summary, text);
    d
}

fn not_gone(e: &OpError) -> Option<&'static str> {
    match e {
        OpError::Ssh(e) if !e.is_unreachable() && is_connect_failure(e) => Some(NOT_GONE),
        _ => None,
    }
}

fn is_connect_failure(e: &SshError) -> bool {
    matches!(
        e,
        SshError::ConnectionRefused { .. }
            | SshError::BastionConnect { .. }
            | SshError::Connect { .. }
            | SshError::LoginRefused { .. }
            | SshError::BastionLoginRefused { .. }
            | SshError::BastionHostKeyUnknown { .. }
            | SshError::HostKeyChanged { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the user reads: the error, a blank line, the hint (as `OpError::to_diagnostics`
    /// writes it), with whitespace squashed as a terminal reader would not notice it.
    fn shown(e: SshError) -> String {
        let hint = ssh(&e);
        format!("{e}\n\n{hint}")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_changed_host_key_says_how_to_accept_the_new_one() {
        let text = shown(SshError::HostKeyChanged {
            host: "root@10.0.0.1:22".into(),
            expected_fingerprint: "SHA256:old".into(),
            presented_fingerprint: "SHA256:new".into(),
        });
        assert_eq!(
            text,
            "the host key of root@10.0.0.1:22 has changed: expected SHA256:old, the host \
             presented SHA256:new If the host was legitimately rebuilt, set host_key to the new \
             key and run `terraform apply -refresh=false`."
        );
    }

    #[test]
    fn refused_logins_name_the_key_attribute_to_check() {
        let text = shown(SshError::LoginRefused {
            host: "root@h:22".into(),
            user: "root".into(),
            ssh_said: "root@h: Permission denied (publickey).".into(),
            retried_for: None,
        });
        assert!(
            text.contains("(root@h: Permission denied (publickey).) Check private_key or the keys in ssh-agent. Check that the host accepts your SSH key"),
            "{text}"
        );

        let text = shown(SshError::BastionLoginRefused {
            host: "root@h:22".into(),
            bastion: "jump@b:22".into(),
            ssh_said: "denied".into(),
        });
        assert!(
            text.contains("Check bastion_private_key or the keys in ssh-agent."),
            "{text}"
        );
        let text = shown(SshError::BastionHostKeyUnknown {
            host: "root@h:22".into(),
            bastion: "jump@b:22".into(),
            ssh_said: "Host key verification failed.".into(),
        });
        assert!(
            text.contains("or does not match it (Host key verification failed.) Add it to ~/.ssh/known_hosts or set bastion_host_key."),
            "{text}"
        );
    }

    #[test]
    fn sudo_asking_for_a_password_names_the_user_to_allow() {
        let text = shown(SshError::SudoNeedsPassword {
            host: "deploy@h:22".into(),
            user: "deploy".into(),
            detail: "sudo: a password is required".into(),
        });
        assert!(
            text.contains("Add a NOPASSWD rule for deploy in /etc/sudoers.d or connect as root."),
            "{text}"
        );
        assert!(
            text.ends_with("the state records what was already done."),
            "{text}"
        );
    }
}
