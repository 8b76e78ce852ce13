//! Masters that outlive the process: where their control sockets live, how one is found again,
//! and the lock that keeps two processes from starting the same one.
//!
//! Layout: `<control dir>/<slot>/` holds a master's socket (`master`), the `known_hosts` it
//! checked the host against, its `config` and logs; `<control dir>/<slot>.lock` serialises
//! finding-or-starting it across processes. The control directory is private to the user
//! (0700): whoever can reach a socket can run commands on its host.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::host_key::{first_known_host_key, HostKey};

/// Hex digits of the slot name: 96 bits of the identity's hash.
const SLOT_NAME_LEN: usize = 24;

/// Name of the control socket inside a slot.
pub(crate) const SOCKET_NAME: &str = "master";

/// `sun_path` holds 108 bytes including the final NUL; ssh binds the socket under a temporary
/// name (the path plus `.` and 16 random characters) before linking it into place.
const MAX_SOCKET_PATH: usize = 107 - 17;

/// How long masters persist and where their sockets live.
#[derive(Debug)]
pub(crate) struct Persistence {
    pub(crate) dir: ControlDir,
    pub(crate) persist: Duration,
}

/// A directory private to the user holding persistent masters.
#[derive(Debug)]
pub(crate) struct ControlDir {
    path: PathBuf,
}

impl ControlDir {
    /// `configured`, or the default directory, created 0700 if missing; refused when it is not
    /// a directory of this user that only this user can enter, or when its path is too long for
    /// the sockets inside it.
    pub(crate) fn prepare(configured: Option<&Path>) -> Result<ControlDir, String> {
        let path = match configured {
            Some(path) => path.to_path_buf(),
            None => default_control_dir()?,
        };
        let socket_len = path.as_os_str().len() + 1 + SLOT_NAME_LEN + 1 + SOCKET_NAME.len();
        if socket_len > MAX_SOCKET_PATH {
            return Err(format!(
                "{} is too long a path for control sockets ({socket_len} of at most \
                 {MAX_SOCKET_PATH} bytes)",
                path.display()
            ));
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", path.display()));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(format!(
                "{} belongs to uid {}, not to this user (uid {me})",
                path.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "{} can be entered by other users (mode {:o}); it must be 0700",
                path.display(),
                meta.mode() & 0o777
            ));
        }
        Ok(ControlDir { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn slot(&self, identity: &MasterIdentity<'_>) -> Slot {
        let name = identity.slot_name();
        Slot {
            dir: self.path.join(&name),
            lock: self.path.join(format!("{name}.lock")),
        }
    }
}

/// `$XDG_RUNTIME_DIR/mke-ssh` (a tmpfs that goes with the user's last session), else
/// `$XDG_CACHE_HOME/mke-ssh`, else `~/.cache/mke-ssh`.
fn default_control_dir() -> Result<PathBuf, String> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if let Some(runtime) = absolute("XDG_RUNTIME_DIR").filter(|path| path.is_dir()) {
        return Ok(runtime.join("mke-ssh"));
    }
    if let Some(cache) = absolute("XDG_CACHE_HOME") {
        return Ok(cache.join("mke-ssh"));
    }
    if let Some(home) = absolute("HOME") {
        return Ok(home.join(".cache").join("mke-ssh"));
    }
    Err("none of XDG_RUNTIME_DIR, XDG_CACHE_HOME and HOME is set".to_string())
}

/// Everything a master's connection depends on: a master is reused only when all of it is the
/// same.
pub(crate) struct MasterIdentity<'a> {
    pub(crate) user: &'a str,
    pub(crate) address: &'a str,
    pub(crate) port: u16,
    pub(crate) pinned: &'a HostKey,
    /// `user@host:port` and pinned key of the jump host, if any.
    pub(crate) bastion: Option<(String, Option<&'a str>)>,
    /// The private keys offered (target, bastion); `None` for the agent.
    pub(crate) private_keys: [Option<&'a str>; 2],
}

impl MasterIdentity<'_> {
    /// A hash, so that the name is short enough for a socket path and says nothing of the host.
    fn slot_name(&self) -> String {
        let mut hash = Sha256::new();
        let mut part = |text: &str| {
            hash.update((text.len() as u64).to_be_bytes());
            hash.update(text.as_bytes());
        };
        part("mke-ssh master 1");
        part(self.user);
        part(self.address);
        part(&self.port.to_string());
        part(&self.pinned.openssh());
        match &self.bastion {
            Some((name, key)) => {
                part(name);
                part(key.unwrap_or("-"));
            }
            None => part("no bastion"),
        }
        for key in self.private_keys {
            // The key's digest only: the slot name must not let anyone recover the key.
            part(&match key {
                Some(key) => format!("{:x}", Sha256::digest(key.trim().as_bytes())),
                None => "agent".to_string(),
            });
        }
        let digest = format!("{:x}", hash.finalize());
        digest[..SLOT_NAME_LEN].to_string()
    }
}

/// Where one persistent master lives.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) dir: PathBuf,
    lock: PathBuf,
}

impl Slot {
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join(SOCKET_NAME)
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The key the master living here checked the host against.
    pub(crate) fn pinned_key(&self) -> Option<HostKey> {
        let recorded = fs::read_to_string(self.dir.join("known_hosts")).ok()?;
        first_known_host_key(&recorded)
    }

    /// An empty slot directory (0700), whatever was there before.
    pub(crate) fn reset(&self) -> io::Result<PathBuf> {
        self.remove()?;
        DirBuilder::new().mode(0o700).create(&self.dir)?;
        Ok(self.dir.clone())
    }

    pub(crate) fn remove(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Waits (until `deadline`) for the other processes finding or starting this master.
    pub(crate) async fn lock(&self, deadline: Instant) -> io::Result<SlotLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock)?;
        let waiting = tokio::task::spawn_blocking(move || {
            // SAFETY: the descriptor belongs to `file`, which outlives the call.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                Ok(SlotLock { _file: file })
            } else {
                Err(io::Error::last_os_error())
            }
        });
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, waiting).await {
            Ok(Ok(locked)) => locked,
            Ok(Err(join)) => Err(io::Error::other(join)),
            // The blocked thread takes the lock later and releases it as its result is dropped.
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} stayed locked by another process", self.lock.display()),
            )),
        }
    }
}

/// Held while a master is found or started; closing the file releases the lock.
#[derive(Debug)]
pub(crate) struct SlotLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh46eBPtHbauL62PqSfKet2U4IH4NaX+ZlPFwg/P1mk";

    fn identity(key: &HostKey) -> MasterIdentity<'_> {
        MasterIdentity {
            user: "root",
            address: "10.0.0.1",
            port: 22,
            pinned: key,
            bastion: None,
            private_keys: [Some("key"), None],
        }
    }

    #[test]
    fn slot_names_are_short_and_differ_with_every_part_of_the_identity() {
        let key = HostKey::parse(ED25519).unwrap();
        let base = identity(&key).slot_name();
        assert_eq!(base.len(), SLOT_NAME_LEN);
        assert!(base.chars().all(|c| c.is_ascii_hexdigit()), "{base}");
        assert_eq!(identity(&key).slot_name(), base, "stable across processes");
        let variants = [
            MasterIdentity {
                user: "deploy",
                ..identity(&key)
            },
            MasterIdentity {
                address: "10.0.0.2",
                ..identity(&key)
            },
            MasterIdentity {
                port: 2222,
                ..identity(&key)
            },
            MasterIdentity {
                bastion: Some(("root@jump:22".into(), None)),
                ..identity(&key)
            },
            MasterIdentity {
                private_keys: [Some("other key"), None],
                ..identity(&key)
            },
        ];
        for variant in variants {
            assert_ne!(variant.slot_name(), base);
        }
        let other_key = HostKey::parse(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOn2MWMHSGdwhEf0mP5KWrT4S5Oa0i6a7a8cO2gKm1N0",
        )
        .unwrap();
        assert_ne!(identity(&other_key).slot_name(), base);
    }

    #[test]
    fn the_control_dir_is_made_private_and_a_shared_one_is_refused() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("nested/mke-ssh");
        let prepared = ControlDir::prepare(Some(&dir)).unwrap();
        assert_eq!(prepared.path(), dir);
        let mode = fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);

        let shared = scratch.path().join("shared");
        DirBuilder::new().mode(0o755).create(&shared).unwrap();
        fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let err = ControlDir::prepare(Some(&shared)).unwrap_err();
        assert!(err.contains("must be 0700"), "{err}");

        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = ControlDir::prepare(Some(&link)).unwrap_err();
        assert!(err.contains("is not a directory"), "{err}");

        let long = scratch.path().join("x".repeat(80));
        let err = ControlDir::prepare(Some(&long)).unwrap_err();
        assert!(err.contains("too long"), "{err}");
    }
}
