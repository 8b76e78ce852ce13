//! Masters that outlive their pool (as they outlive a provider process): a second pool reuses a
//! live one without logging in, and never one that checked another key, that stopped answering,
//! or that a host trusted on first use would get. Every test has its own control directory.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use common::{keygen, master_pid, prerequisites_or_skip, process_alive, wait_for, Sshd};
use mke_ssh::{Command, Pool, SshDefaults, SshError, Target};
use tempfile::TempDir;

const CONNECT: Duration = Duration::from_secs(30);
const PERSIST: Duration = Duration::from_secs(60);

/// A control directory for one test; the masters left in it are told to exit when it drops.
struct ControlDir {
    scratch: TempDir,
}

impl ControlDir {
    fn new() -> ControlDir {
        ControlDir {
            scratch: tempfile::Builder::new()
                .prefix("mke-ctl-")
                .tempdir()
                .unwrap(),
        }
    }

    /// Not created yet: the pool creates it.
    fn path(&self) -> PathBuf {
        self.scratch.path().join("ctl")
    }

    fn sockets(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.path()) else {
            return Vec::new();
        };
        entries
            .map(|entry| entry.unwrap().path().join("master"))
            .filter(|socket| socket.exists())
            .collect()
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        for socket in self.sockets() {
            let _ = Process::new("ssh")
                .args(["-F", "/dev/null", "-S"])
                .arg(&socket)
                .args(["-O", "exit", "unused"])
                .output();
        }
    }
}

fn persisting(sshd: &Sshd, control: &ControlDir) -> SshDefaults {
    SshDefaults {
        persist: PERSIST,
        control_dir: Some(control.path()),
        ..sshd.defaults()
    }
}

fn pinned(sshd: &Sshd) -> Target {
    Target {
        host_key: Some(sshd.host_public_key()),
        ..sshd.target()
    }
}

/// Proves that nothing logged in between `before` and now but the one login this makes: sshd
/// logs in order, so once this login shows, any earlier one has shown too.
async fn assert_no_login_since(sshd: &Sshd, before: usize) {
    let witness = Pool::new(sshd.defaults());
    witness.connect(&sshd.target(), CONNECT).await.unwrap();
    wait_for("the witness login in sshd's log", CONNECT, || {
        sshd.logins() > before
    });
    assert_eq!(sshd.logins(), before + 1, "another login happened");
}

fn slot_of(socket: &Path) -> PathBuf {
    socket.parent().unwrap().to_path_buf()
}

macro_rules! sshd_or_skip {
    ($name:literal) => {{
        if !prerequisites_or_skip($name) {
            return;
        }
        Sshd::start()
    }};
}

#[tokio::test]
async fn a_second_pool_reuses_the_master_the_first_left_running() {
    let sshd = sshd_or_skip!("a_second_pool_reuses_the_master_the_first_left_running");
    let control = ControlDir::new();
    let first = Pool::new(persisting(&sshd, &control));
    let host = first.connect(&pinned(&sshd), CONNECT).await.unwrap();
    assert_eq!(
        host.check(&Command::new("echo one")).await.unwrap(),
        "one\n"
    );
    let socket = host.control_socket();
    assert!(socket.starts_with(control.path()), "{}", socket.display());
    let mode = std::fs::metadata(control.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the control directory is private");
    let pid = master_pid(&socket);
    drop(host);
    drop(first);
    assert!(process_alive(pid), "the master ended with its pool");

    let logins = sshd.logins();
    let second = Pool::new(persisting(&sshd, &control));
    let host = second.connect(&pinned(&sshd), CONNECT).await.unwrap();
    assert_eq!(
        host.check(&Command::new("echo two")).await.unwrap(),
        "two\n"
    );
    assert_eq!(host.host_key(), sshd.host_public_key());
    assert_eq!(second.connections_opened(), 0);
    assert_eq!(second.connections_reused(), 1);
    assert_eq!(host.control_socket(), socket);
    assert_eq!(master_pid(&socket), pid);
    assert_no_login_since(&sshd, logins).await;
}

#[tokio::test]
async fn a_master_that_checked_another_key_is_closed_and_replaced() {
    let sshd = sshd_or_skip!("a_master_that_checked_another_key_is_closed_and_replaced");
    let control = ControlDir::new();
    let first = Pool::new(persisting(&sshd, &control));
    let socket = first
        .connect(&pinned(&sshd), CONNECT)
        .await
        .unwrap()
        .control_socket();
    let old = master_pid(&socket);
    drop(first);
    // As if the master in this slot had been started against another key.
    let other = keygen(&sshd.dir.path().join("other_ed25519"), "ed25519");
    std::fs::write(
        slot_of(&socket).join("known_hosts"),
        format!("[127.0.0.1]:{} {other}\n", sshd.port),
    )
    .unwrap();

    let logins = sshd.logins();
    let second = Pool::new(persisting(&sshd, &control));
    let host = second.connect(&pinned(&sshd), CONNECT).await.unwrap();
    assert_eq!(second.connections_reused(), 0);
    assert_eq!(second.connections_opened(), 1);
    wait_for("the mismatched master to exit", CONNECT, || {
        !process_alive(old)
    });
    assert_eq!(host.control_socket(), socket, "the slot is reused");
    assert_ne!(master_pid(&socket), old);
    assert_eq!(
        host.check(&Command::new("echo new")).await.unwrap(),
        "new\n"
    );
    wait_for("the replacement login", CONNECT, || sshd.logins() > logins);
}

#[tokio::test]
async fn another_pinned_key_or_first_use_never_reaches_a_persisted_master() {
    let sshd = sshd_or_skip!("another_pinned_key_or_first_use_never_reaches_a_persisted_master");
    let control = ControlDir::new();
    let first = Pool::new(persisting(&sshd, &control));
    let socket = first
        .connect(&pinned(&sshd), CONNECT)
        .await
        .unwrap()
        .control_socket();
    let live = master_pid(&socket);
    drop(first);

    // A resource that pins another key reaches the host itself, which refuses it.
    let other = sshd.dir.path().join("other_ed25519");
    let wrong = Target {
        host_key: Some(keygen(&other, "ed25519")),
        ..sshd.target()
    };
    let second = Pool::new(persisting(&sshd, &control));
    let err = second.connect(&wrong, CONNECT).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyChanged { .. }), "{err:?}");
    assert_eq!(second.connections_reused(), 0);

    // Trust on first use takes a master of its own that ends with its pool.
    let third = Pool::new(persisting(&sshd, &control));
    let host = third.connect(&sshd.target(), CONNECT).await.unwrap();
    assert_eq!(third.connections_reused(), 0);
    assert_eq!(third.connections_opened(), 1);
    let own = host.control_socket();
    assert!(!own.starts_with(control.path()), "{}", own.display());
    let own_pid = master_pid(&own);
    drop(host);
    drop(third);
    wait_for("the first-use master to exit", CONNECT, || {
        !process_alive(own_pid)
    });

    assert!(process_alive(live), "the persisted master was disturbed");
    assert_eq!(control.sockets(), vec![socket]);
}

#[tokio::test]
async fn a_persisted_master_that_died_is_replaced() {
    let sshd = sshd_or_skip!("a_persisted_master_that_died_is_replaced");
    let control = ControlDir::new();
    let first = Pool::new(persisting(&sshd, &control));
    let socket = first
        .connect(&pinned(&sshd), CONNECT)
        .await
        .unwrap()
        .control_socket();
    let dead = master_pid(&socket);
    drop(first);
    // The master is a process this test's pool started; ending it by its pid leaves its socket.
    Process::new("kill")
        .args(["-9", &dead.to_string()])
        .status()
        .unwrap();
    wait_for("the killed master to exit", CONNECT, || {
        !process_alive(dead)
    });
    assert!(socket.exists(), "a killed master leaves its socket file");

    let second = Pool::new(persisting(&sshd, &control));
    let host = second.connect(&pinned(&sshd), CONNECT).await.unwrap();
    assert_eq!(second.connections_reused(), 0);
    assert_eq!(second.connections_opened(), 1);
    assert_eq!(
        host.check(&Command::new("echo back")).await.unwrap(),
        "back\n"
    );
    assert_ne!(master_pid(&socket), dead);
}

/// The processes below `pid`, deepest last.
fn descendants(pid: u32) -> Vec<u32> {
    let parent_of = |child: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
        stat.rsplit_once(") ")?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut found = vec![pid];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(all.iter().filter(|&&p| parent_of(p) == Some(parent)));
        index += 1;
    }
    found.split_off(1)
}

fn signal(pids: &[u32], name: &str) {
    for pid in pids {
        let _ = Process::new("kill").args([name, &pid.to_string()]).status();
    }
}

#[tokio::test]
async fn a_persisted_master_whose_host_stopped_answering_is_replaced() {
    let sshd = sshd_or_skip!("a_persisted_master_whose_host_stopped_answering_is_replaced");
    let control = ControlDir::new();
    let first = Pool::new(persisting(&sshd, &control));
    let socket = first
        .connect(&pinned(&sshd), CONNECT)
        .await
        .unwrap()
        .control_socket();
    let silent = master_pid(&socket);
    drop(first);
    // The sshd processes serving that connection (started by this test's sshd) freeze: the
    // master still answers locally, but nothing runs on the host through it.
    let frozen = descendants(sshd.pid());
    assert!(!frozen.is_empty(), "no sshd serves the master");
    signal(&frozen, "-STOP");

    let second = Pool::new(persisting(&sshd, &control));
    let connected = second.connect(&pinned(&sshd), CONNECT).await;
    signal(&frozen, "-CONT");
    let host = connected.unwrap();
    assert_eq!(second.connections_reused(), 0);
    assert_eq!(second.connections_opened(), 1);
    assert_eq!(
        host.check(&Command::new("echo alive")).await.unwrap(),
        "alive\n"
    );
    assert_ne!(master_pid(&socket), silent);
}

#[tokio::test]
async fn persist_zero_leaves_no_master_and_no_socket_behind() {
    let sshd = sshd_or_skip!("persist_zero_leaves_no_master_and_no_socket_behind");
    let control = ControlDir::new();
    let pool = Pool::new(SshDefaults {
        persist: Duration::ZERO,
        ..persisting(&sshd, &control)
    });
    let host = pool.connect(&pinned(&sshd), CONNECT).await.unwrap();
    let socket = host.control_socket();
    assert!(!socket.starts_with(control.path()), "{}", socket.display());
    let pid = master_pid(&socket);
    drop(host);
    drop(pool);
    wait_for("the master to exit", CONNECT, || !process_alive(pid));
    assert!(!socket.exists(), "control socket left behind");
    assert!(!control.path().exists(), "a control directory was made");
}
