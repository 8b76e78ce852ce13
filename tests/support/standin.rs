//! The k0s stand-in (`tests/k0s-standin/k0s`, a test double for k0s): where
//! it is, variants of it, and the log of its calls on a test host.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value as Json;

use super::testbed::TestHost;

/// Where the provider installs k0s on a host.
pub const K0S: &str = "/usr/local/bin/k0s";
/// The version the stand-in reports.
pub const VERSION: &str = "v1.29.3+k0s.0";
/// One JSON line per call of the stand-in on a host.
pub const CALLS_LOG: &str = "/var/log/k0s-standin/calls.jsonl";
/// Where a [`variant`] that records tokens writes each token it mints.
pub const MINTED_TOKENS: &str = "/var/log/k0s-standin/minted-tokens";

/// The stand-in, as `k0s_binary_path`.
pub fn path() -> String {
    format!("{}/tests/k0s-standin/k0s", env!("CARGO_MANIFEST_DIR"))
}

pub fn bytes() -> Vec<u8> {
    std::fs::read(path()).expect("the k0s stand-in")
}

/// A modified copy of the stand-in, in a directory under the target dir;
/// removed when dropped.
pub struct Variant {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Variant {
    pub fn path(&self) -> &str {
        self.path.to_str().expect("UTF-8 path")
    }
}

/// A copy of the stand-in that reports `version` instead of [`VERSION`]
/// and, with `record_tokens`, appends every join token it mints (and its
/// bearer part) to [`MINTED_TOKENS`]: `k0s token invalidate` deletes a
/// token's Secret, so once a join is done nothing else on the leader holds it.
pub fn variant(version: Option<&str>, record_tokens: bool) -> Variant {
    let original = std::fs::read_to_string(path()).expect("the k0s stand-in");
    let mut text = original.clone();
    if let Some(version) = version {
        let line = format!("VERSION = \"{VERSION}\"");
        assert!(
            text.contains(&line),
            "the stand-in no longer has the line {line:?}; update support::standin::variant"
        );
        text = text.replacen(&line, &format!("VERSION = \"{version}\""), 1);
    }
    if record_tokens {
        let main = "\nif __name__ == \"__main__\":";
        assert!(
            text.contains(main) && text.contains("\ndef create_join_token("),
            "the stand-in no longer has create_join_token or its main guard; update support::standin::variant"
        );
        let hook = format!(
            "\n_mint_join_token = create_join_token\n\n\n\
             def create_join_token(ctx, role, expiry):\n\
             \x20   token = _mint_join_token(ctx, role, expiry)\n\
             \x20   ensure_dir(LOG_DIR)\n\
             \x20   with open(host_path(\"{MINTED_TOKENS}\"), \"a\") as handle:\n\
             \x20       handle.write(token + \"\\n\" + decode_join_token(token)[3] + \"\\n\")\n\
             \x20   return token\n\n"
        );
        text = text.replacen(main, &format!("{hook}{main}"), 1);
    }
    assert_ne!(text, original, "a variant must differ from the stand-in");
    let dir = tempfile::Builder::new()
        .prefix("k0s-standin-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir under the target dir");
    let path = dir.path().join("k0s");
    std::fs::write(&path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The hosts see the machine's files (the project tree and the target dir
    // are part of every host's root) and must be able to traverse to it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Variant { _dir: dir, path }
}

/// A calls log on the machine's own root (left by running the stand-in
/// outside a test host) shows through every host's overlay; each host starts
/// with none of its own.
pub fn forget_calls_from_the_machine(host: &TestHost) {
    host.exec_ok(&format!("rm -f {CALLS_LOG}"));
}

/// One call of the stand-in, from its calls log.
#[derive(Debug, Clone)]
pub struct Call {
    pub argv: Vec<String>,
    /// RFC 3339 with microseconds, UTC: sorts as text.
    pub time: String,
}

impl Call {
    /// Every word appears in the command line.
    pub fn has(&self, words: &[&str]) -> bool {
        words.iter().all(|w| self.argv.iter().any(|a| a == w))
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.argv.iter().any(|a| a.starts_with(prefix))
    }

    /// The sub-command: `install`, `start`, `etcd`, ...
    pub fn verb(&self) -> &str {
        self.argv.get(1).map(String::as_str).unwrap_or("")
    }
}

/// Every call of the stand-in on `host` so far, oldest first.
pub fn calls_on(host: &TestHost) -> Vec<Call> {
    host.exec_ok(&format!("cat {CALLS_LOG} 2>/dev/null || true"))
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .map(|j| Call {
            argv: j["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap_or("").to_string())
                .collect(),
            time: j["time"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

pub fn has_call(calls: &[Call], words: &[&str]) -> bool {
    calls.iter().any(|c| c.has(words))
}

pub fn first<'a>(calls: &'a [Call], words: &[&str]) -> &'a Call {
    calls
        .iter()
        .find(|c| c.has(words))
        .unwrap_or_else(|| panic!("no call with {words:?} in {calls:#?}"))
}

pub fn last<'a>(calls: &'a [Call], words: &[&str]) -> &'a Call {
    calls
        .iter()
        .rev()
        .find(|c| c.has(words))
        .unwrap_or_else(|| panic!("no call with {words:?} in {calls:#?}"))
}

/// The calls that can change a host: all but reading the version, the
/// status, the admin kubeconfig and Kubernetes objects.
pub fn changing_calls(calls: Vec<Call>) -> Vec<Call> {
    calls
        .into_iter()
        .filter(|c| {
            // The kubectl verb comes after flags such as `--request-timeout=30s`.
            let reading_kubectl = c.verb() == "kubectl"
                && c.argv
                    .iter()
                    .skip(2)
                    .find(|a| !a.starts_with("--"))
                    .is_some_and(|v| v == "get");
            !(matches!(c.verb(), "version" | "status" | "kubeconfig") || reading_kubectl)
        })
        .collect()
}
