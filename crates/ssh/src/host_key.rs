//! OpenSSH public host keys as users write them (`<type> <base64> [comment]`).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Algorithms offered when trusting a host on first use: ed25519 first so that the key recorded in
/// state is the one users expect to see, RSA only with SHA-2 signatures.
pub(crate) const TOFU_HOST_KEY_ALGORITHMS: &str = "ssh-ed25519,ecdsa-sha2-nistp256,\
ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostKey {
    kind: String,
    base64: String,
    blob: Vec<u8>,
}

impl HostKey {
    /// Parses `<type> <base64> [comment]`; the comment is dropped so keys compare by type and key.
    pub(crate) fn parse(text: &str) -> Result<HostKey, String> {
        let mut fields = text.split_whitespace();
        let (Some(kind), Some(encoded)) = (fields.next(), fields.next()) else {
            return Err("expected \"<type> <base64>\", e.g. \"ssh-ed25519 AAAAC3Nza...\"".into());
        };
        let blob = STANDARD
            .decode(encoded)
            .map_err(|err| format!("the key after {kind:?} is not valid base64 ({err})"))?;
        let embedded_kind = embedded_key_type(&blob)
            .ok_or_else(|| "the base64 part is not an SSH public key".to_string())?;
        if embedded_kind != kind {
            return Err(format!(
                "the key is labelled {kind:?} but its data is a {embedded_kind:?} key"
            ));
        }
        Ok(HostKey {
            kind: kind.to_string(),
            base64: encoded.to_string(),
            blob,
        })
    }

    pub(crate) fn kind(&self) -> &str {
        &self.kind
    }

    /// `SHA256:<base64 without padding>`, exactly as `ssh-keygen -l` prints it.
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.blob))
        )
    }

    /// `<type> <base64>`, the form stored in Terraform state.
    pub(crate) fn openssh(&self) -> String {
        format!("{} {}", self.kind, self.base64)
    }

    pub(crate) fn known_hosts_line(&self, address: &str, port: u16) -> String {
        format!(
            "{} {}\n",
            known_hosts_pattern(address, port),
            self.openssh()
        )
    }

    /// Restricts negotiation to this key's type: otherwise a host that also has, say, an ed25519
    /// key would present that one and ssh would refuse it as unknown instead of checking the pin.
    pub(crate) fn host_key_algorithms(&self) -> String {
        match self.kind.as_str() {
            "ssh-rsa" => "rsa-sha2-512,rsa-sha2-256".to_string(),
            other => other.to_string(),
        }
    }
}

/// The key type ssh embeds at the start of the key blob (a length-prefixed string).
fn embedded_key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4 + len)?).ok()
}

/// How ssh names a host in known_hosts: bare for port 22, `[address]:port` otherwise.
pub(crate) fn known_hosts_pattern(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

/// The first key in a known_hosts file written by ssh (plain, not hashed).
pub(crate) fn first_known_host_key(known_hosts: &str) -> Option<HostKey> {
    known_hosts
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('@'))
        .find_map(|line| {
            let (_pattern, key) = line.split_once(char::is_whitespace)?;
            HostKey::parse(key).ok()
        })
}

/// The fingerprint ssh printed in its "REMOTE HOST IDENTIFICATION HAS CHANGED" warning, which
/// names the key the host really sent ("The fingerprint for the ED25519 key sent by the remote
/// host is\nSHA256:....").
pub(crate) fn presented_fingerprint_in_ssh_log(log: &str) -> Option<String> {
    let mut lines = log.lines();
    while let Some(line) = lines.next() {
        if line.contains("key sent by the remote host is") {
            let next = lines.next()?.trim().trim_end_matches('.');
            if next.starts_with("SHA256:") {
                return Some(next.to_string());
            }
        }
    }
    None
}

/// The key lines of `ssh-keyscan` output (`<host> <type> <base64>`).
pub(crate) fn keys_in_keyscan_output(output: &str) -> Vec<HostKey> {
    output
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (_host, key) = line.trim().split_once(char::is_whitespace)?;
            HostKey::parse(key).ok()
        })
        .collect()
}

/// The SHA256 fingerprint of a public key given as `<type> <base64> [comment]`, as `ssh-keygen -l`
/// prints it; `None` when the text is not a public key.
pub fn fingerprint(host_key: &str) -> Option<String> {
    HostKey::parse(host_key).ok().map(|key| key.fingerprint())
}

/// `<type> <base64>` without the comment, or why the text is not an OpenSSH public key; for
/// plan-time validation of `host_key` attributes.
pub fn normalize_host_key(host_key: &str) -> Result<String, String> {
    HostKey::parse(host_key).map(|key| key.openssh())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real ed25519 public key and the fingerprint `ssh-keygen -lf` printed for it.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh46eBPtHbauL62PqSfKet2U4IH4NaX+ZlPFwg/P1mk";
    const ED25519_FINGERPRINT: &str = "SHA256:LIp7kRxK6bAJRoA5A/dSgqdBBnghAjZAkQ/vTGqEx4Q";

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        assert_eq!(fingerprint(ED25519).as_deref(), Some(ED25519_FINGERPRINT));
    }

    #[test]
    fn comment_is_ignored_when_comparing() {
        let with_comment = HostKey::parse(&format!("{ED25519} root@example")).unwrap();
        assert_eq!(with_comment, HostKey::parse(ED25519).unwrap());
        assert_eq!(with_comment.openssh(), ED25519);
    }

    #[test]
    fn rejects_text_that_is_not_a_key() {
        assert!(HostKey::parse("ssh-ed25519").is_err());
        assert!(HostKey::parse("ssh-ed25519 not-base64!").is_err());
        let mislabelled = ED25519.replace("ssh-ed25519", "ssh-rsa");
        let err = HostKey::parse(&mislabelled).unwrap_err();
        assert!(err.contains("ssh-ed25519"), "{err}");
    }

    #[test]
    fn known_hosts_lines_bracket_non_default_ports() {
        let key = HostKey::parse(ED25519).unwrap();
        assert_eq!(
            key.known_hosts_line("10.0.0.1", 22),
            format!("10.0.0.1 {ED25519}\n")
        );
        assert_eq!(
            key.known_hosts_line("10.0.0.1", 2222),
            format!("[10.0.0.1]:2222 {ED25519}\n")
        );
    }

    #[test]
    fn reads_back_the_key_ssh_recorded() {
        let file = format!("# comment\n[127.0.0.1]:2222 {ED25519}\n");
        assert_eq!(first_known_host_key(&file).unwrap().openssh(), ED25519);
        assert!(first_known_host_key("").is_none());
    }

    #[test]
    fn finds_the_presented_fingerprint_in_ssh_warning() {
        let log = "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                   The fingerprint for the ED25519 key sent by the remote host is\n\
                   SHA256:abcDEF123.\n\
                   Please contact your system administrator.\n";
        assert_eq!(
            presented_fingerprint_in_ssh_log(log).as_deref(),
            Some("SHA256:abcDEF123")
        );
    }

    #[test]
    fn parses_keyscan_output() {
        let output = format!("# 127.0.0.1:22 SSH-2.0-OpenSSH_9.2\n127.0.0.1 {ED25519}\n");
        let keys = keys_in_keyscan_output(&output);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].fingerprint(), ED25519_FINGERPRINT);
    }
}
