//! A real OpenSSH server for the tests, started on 127.0.0.1 at a free port with generated keys.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mke_ssh::{Secret, SshDefaults, Target};
use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";

/// Why these tests cannot run here, if they cannot.
fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("they must run as root (sshd needs privilege separation)".into());
    }
    for tool in [SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen"] {
        if !Path::new(tool).exists() {
            return Some(format!(
                "{tool} is not installed (Debian: apt-get install openssh-server openssh-client)"
            ));
        }
    }
    None
}

/// `None` (after saying why) when the machine cannot run an sshd; under CI=true that is a failure.
pub fn prerequisites_or_skip(test: &str) -> bool {
    match missing_prerequisite() {
        None => true,
        Some(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test} cannot run: {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            false
        }
    }
}

pub fn keygen(path: &Path, kind: &str) -> String {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen -t {kind} failed");
    public_key(path)
}

/// `<type> <base64>` of the key whose private half is at `path`.
pub fn public_key(path: &Path) -> String {
    let text = fs::read_to_string(path.with_extension("pub")).expect("public key written");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The fingerprint `ssh-keygen -l` prints, independently of the crate's own computation.
pub fn keygen_fingerprint(private_key_path: &Path) -> String {
    let output = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(private_key_path.with_extension("pub"))
        .output()
        .expect("ssh-keygen -l runs");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint printed")
        .to_string()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
    pub host_key_path: PathBuf,
    pub client_key_path: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

impl Sshd {
    pub fn start() -> Sshd {
        Sshd::start_on(free_port(), None)
    }

    /// `also_authorized`: one more public key that may log in, besides the generated client key.
    pub fn start_on(port: u16, also_authorized: Option<String>) -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("mke-sshd-")
            .tempdir()
            .expect("temp dir");
        // Other users' logins read authorized_keys with their own rights.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all("/run/sshd").expect("privilege separation directory");

        let host_key_path = dir.path().join("host_ed25519");
        keygen(&host_key_path, "ed25519");
        let client_key_path = dir.path().join("client_ed25519");
        let client_public = keygen(&client_key_path, "ed25519");
        let authorized_keys = dir.path().join("authorized_keys");
        let extra = also_authorized.map(|key| key + "\n").unwrap_or_default();
        fs::write(&authorized_keys, format!("{client_public}\n{extra}")).unwrap();
        fs::set_permissions(&authorized_keys, fs::Permissions::from_mode(0o644)).unwrap();

        let config = dir.path().join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {host}\nPidFile none\nUsePAM no\n\
                 StrictModes no\nAuthorizedKeysFile {keys}\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nLogLevel INFO\n",
                host = host_key_path.display(),
                keys = authorized_keys.display(),
            ),
        )
        .unwrap();

        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .arg("-h")
            .arg(&host_key_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sshd starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(stderr).lines();
        // sshd says so once its socket listens; reading that line is the readiness signal.
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("Server listening on");
                    log.lock().unwrap().push(line);
                    if ready {
                        break;
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("sshd exited before listening: {:?}", log.lock().unwrap());
                }
            }
        }
        let drain = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                drain.lock().unwrap().push(line);
            }
        });
        Sshd {
            child,
            port,
            dir,
            host_key_path,
            client_key_path,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn host_public_key(&self) -> String {
        public_key(&self.host_key_path)
    }

    pub fn host_fingerprint(&self) -> String {
        keygen_fingerprint(&self.host_key_path)
    }

    pub fn client_key(&self) -> Secret {
        Secret::new(fs::read_to_string(&self.client_key_path).unwrap())
    }

    pub fn defaults(&self) -> SshDefaults {
        SshDefaults {
            user: "root".into(),
            port: self.port,
            private_key: Some(self.client_key()),
            connect_timeout: Duration::from_secs(60),
            bastion: None,
            ..SshDefaults::default()
        }
    }

    pub fn target(&self) -> Target {
        Target::new("127.0.0.1")
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Successful SSH logins so far, as sshd logged them.
    pub fn logins(&self) -> usize {
        self.log()
            .iter()
            .filter(|line| line.contains("Accepted publickey for"))
            .count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name; a zombie has released everything.
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls an external process's state (which gives no other signal) until `condition` holds.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid of the ssh master listening on `socket`, as `ssh -O check` reports it.
pub fn master_pid(socket: &Path) -> u32 {
    let output = Command::new("ssh")
        .arg("-S")
        .arg(socket)
        .args(["-O", "check", "unused"])
        .output()
        .expect("ssh -O check runs");
    let text = String::from_utf8_lossy(&output.stderr);
    text.split("pid=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no master pid in {text:?}"))
}
