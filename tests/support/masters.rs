//! A private runtime directory per provider process tree, so that the SSH masters a test's
//! provider leaves behind (`ssh { persist }`, default 60s) serve that test only, and end
//! with it. The test bed reuses addresses across tests; without this, a test could reach
//! a master another test left.

#![allow(dead_code)]

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `<dir>/xdg-run`, handed to the provider as `XDG_RUNTIME_DIR`; the provider keeps its
/// masters under `mke-ssh/` in it.
pub struct RuntimeDir {
    path: PathBuf,
}

impl RuntimeDir {
    /// Creates `<parent>/xdg-run` (0700, as a login session's runtime dir is).
    pub fn inside(parent: &Path) -> RuntimeDir {
        let path = parent.join("xdg-run");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .expect("create the runtime dir");
        RuntimeDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the provider keeps its masters' slots.
    pub fn control_dir(&self) -> PathBuf {
        self.path.join("mke-ssh")
    }

    /// The control sockets of the masters alive now.
    pub fn live_masters(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.control_dir()) else {
            return Vec::new();
        };
        let mut sockets: Vec<PathBuf> = entries
            .filter_map(|entry| Some(entry.ok()?.path().join("master")))
            .filter(|socket| socket.exists())
            .filter(|socket| master_answers(socket))
            .collect();
        sockets.sort();
        sockets
    }

    /// Ends every master, as `ssh -O exit` does.
    pub fn close_masters(&self) {
        let Ok(entries) = std::fs::read_dir(self.control_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let socket = entry.path().join("master");
            if socket.exists() {
                let _ = control(&socket, "exit");
            }
        }
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        self.close_masters();
    }
}

fn control(socket: &Path, operation: &str) -> std::io::Result<std::process::Output> {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-S"])
        .arg(socket)
        .args(["-O", operation, "unused"])
        .output()
}

/// `ssh -O check`: the master behind the socket is alive.
fn master_answers(socket: &Path) -> bool {
    control(socket, "check").is_ok_and(|out| out.status.success())
}
