//! Disposable SSH hosts for integration tests: each host is a network
//! namespace on a private bridge, with its own copy-on-write root, hostname,
//! pid namespace and sshd. `tests/testbed/testbed.sh` builds them; this module
//! drives it. See `tests/testbed/README.md`.

// Every test binary compiles this module; most use only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testbed/testbed.sh");

/// Hosts started at once; more only queue up behind the two cores of a CI runner.
const PARALLEL_STARTS: usize = 16;

/// A set of test hosts sharing one private /24 (`10.231.<slot>.0/24`). Dropping it
/// removes every namespace, interface, process and file it created.
pub struct TestBed {
    slot: u32,
    dir: PathBuf,
    client_key: PathBuf,
    hosts: Vec<TestHost>,
    /// The `up --foreground` processes: parents of record of the hosts' processes,
    /// so those are reaped even where pid 1 does not reap orphans.
    keepers: Vec<Child>,
    next_index: u32,
}

/// One test host. `address` is reachable from the test process, except for hosts
/// added with [`TestBed::add_host_behind`].
pub struct TestHost {
    pub name: String,
    pub address: String,
    slot: u32,
}

struct HostSpec<'a> {
    name: &'a str,
    bastion: Option<&'a str>,
}

impl TestBed {
    /// Starts one host per name, in parallel.
    pub fn new(hostnames: &[&str]) -> Result<TestBed, String> {
        preflight()?;
        let claim = run_script(&["claim", &std::process::id().to_string()])?;
        let (slot, dir) = claim
            .trim()
            .split_once(' ')
            .and_then(|(slot, dir)| Some((slot.parse::<u32>().ok()?, PathBuf::from(dir))))
            .ok_or_else(|| {
                format!("testbed.sh claim printed {claim:?}, expected \"<slot> <dir>\"")
            })?;
        let mut bed = TestBed {
            slot,
            client_key: dir.join("client_key"),
            dir,
            hosts: Vec::new(),
            keepers: Vec::new(),
            next_index: 1,
        };
        let specs: Vec<HostSpec> = hostnames
            .iter()
            .map(|name| HostSpec {
                name,
                bastion: None,
            })
            .collect();
        bed.start_hosts(&specs)?;
        Ok(bed)
    }

    pub fn host(&self, name: &str) -> &TestHost {
        self.hosts
            .iter()
            .find(|host| host.name == name)
            .unwrap_or_else(|| {
                let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
                panic!("no test host named {name:?}; the bed has {names:?}")
            })
    }

    pub fn hosts(&self) -> &[TestHost] {
        &self.hosts
    }

    /// The ed25519 private key every host's root, `deploy` and `needpw` accept.
    pub fn client_key_path(&self) -> &Path {
        &self.client_key
    }

    pub fn client_private_key(&self) -> String {
        std::fs::read_to_string(&self.client_key)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.client_key.display()))
    }

    pub fn add_host(&mut self, name: &str) -> &TestHost {
        self.start_hosts(&[HostSpec {
            name,
            bastion: None,
        }])
        .unwrap_or_else(|e| panic!("{e}"));
        self.host(name)
    }

    /// A host on a network only `bastion` is attached to; the test process has no
    /// route to it and must go through the bastion (e.g. `ssh -J`).
    pub fn add_host_behind(&mut self, bastion: &str, name: &str) -> &TestHost {
        self.host(bastion);
        self.start_hosts(&[HostSpec {
            name,
            bastion: Some(bastion),
        }])
        .unwrap_or_else(|e| panic!("{e}"));
        self.host(name)
    }

    /// The bed's slot: its hosts live in `10.231.<slot>.0/24`, its network
    /// namespaces are named `mtb<slot>-<host>` and its bridge `mtb<slot>`.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Where the bed keeps its keys and the hosts' writable layers.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// SSH logins `host`'s sshd accepted so far (from its log).
    pub fn ssh_logins(&self, host: &str) -> usize {
        let log = self.dir.join("hosts").join(host).join("console.log");
        std::fs::read_to_string(&log)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", log.display()))
            .lines()
            .filter(|line| line.starts_with("Accepted publickey"))
            .count()
    }

    fn start_hosts(&mut self, specs: &[HostSpec]) -> Result<(), String> {
        for (position, spec) in specs.iter().enumerate() {
            let repeated = specs[..position].iter().any(|s| s.name == spec.name);
            if repeated || self.hosts.iter().any(|h| h.name == spec.name) {
                return Err(format!("test host {:?} is named twice", spec.name));
            }
        }
        let mut failures = Vec::new();
        for wave in specs.chunks(PARALLEL_STARTS) {
            let mut starting = Vec::new();
            for spec in wave {
                let index = self.next_index;
                self.next_index += 1;
                match self.spawn_up(spec, index) {
                    Ok(child) => starting.push((spec.name, child)),
                    Err(e) => failures.push(e),
                }
            }
            for (name, child) in starting {
                match self.await_ready(name, child) {
                    Ok(()) => {}
                    Err(e) => failures.push(e),
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    }

    fn spawn_up(&self, spec: &HostSpec, index: u32) -> Result<Child, String> {
        let slot = self.slot.to_string();
        let index = index.to_string();
        let mut command = Command::new(SCRIPT);
        match spec.bastion {
            None => command.args(["up", &slot, spec.name, &index]),
            Some(bastion) => command.args(["up-behind", &slot, bastion, spec.name, &index]),
        };
        command
            .arg("--foreground")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {SCRIPT}: {e}"))
    }

    fn await_ready(&mut self, name: &str, mut child: Child) -> Result<(), String> {
        let mut address = None;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(ready) = line.strip_prefix("ready ") {
                    address = Some(ready.trim().to_string());
                    break;
                }
            }
        }
        match address {
            Some(address) => {
                drop(child.stderr.take());
                self.keepers.push(child);
                self.hosts.push(TestHost {
                    name: name.to_string(),
                    address,
                    slot: self.slot,
                });
                Ok(())
            }
            None => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(format!(
                    "test host {name:?} did not start ({status}):\n{}",
                    stderr.trim_end()
                ))
            }
        }
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        let slot = self.slot.to_string();
        let torn_down = match Command::new(SCRIPT)
            .args(["teardown-slot", &slot])
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => true,
            Ok(out) => {
                eprintln!(
                    "testbed: tearing down slot {slot} failed ({}); run `{SCRIPT} gc`:\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                false
            }
            Err(e) => {
                eprintln!("testbed: cannot run {SCRIPT} to tear down slot {slot}: {e}");
                false
            }
        };
        for keeper in &mut self.keepers {
            // After a clean teardown the hosts are gone, so each keeper is already exiting;
            // otherwise it could wait for its host forever.
            if !torn_down {
                let _ = keeper.kill();
            }
            let _ = keeper.wait();
        }
    }
}

impl TestHost {
    /// `sh -c cmd` inside the host as root (its namespaces and root fs; no SSH).
    fn shell(&self, cmd: &str) -> Command {
        let mut command = Command::new(SCRIPT);
        command.args([
            "exec",
            &self.slot.to_string(),
            &self.name,
            "--",
            "sh",
            "-c",
            cmd,
        ]);
        command
    }

    /// Runs `sh -c cmd` inside the host as root (its namespaces and root fs; no SSH).
    pub fn exec(&self, cmd: &str) -> Output {
        self.shell(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"))
    }

    /// Writes `contents` to `path` inside the host (through stdin, so the file
    /// need not be visible to the host: hosts have their own /tmp).
    pub fn put_file(&self, path: &str, contents: &[u8], mode: u32) {
        use std::io::Write as _;
        let script = format!(
            "cat > '{path}.put' && chmod {mode:o} '{path}.put' && mv -f '{path}.put' '{path}'"
        );
        let mut child = self
            .shell(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
        child.stdin.take().unwrap().write_all(contents).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writing {path} on test host {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Like [`exec`](Self::exec), returning stdout; panics with both outputs on failure.
    pub fn exec_ok(&self, cmd: &str) -> String {
        let out = self.exec(cmd);
        if !out.status.success() {
            panic!(
                "`{cmd}` failed on test host {} ({}):\nstdout:\n{}\nstderr:\n{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The public host key sshd presents, as `"<algorithm> <base64>"`; `kind` is
    /// `"ed25519"` or `"rsa"`.
    pub fn host_key(&self, kind: &str) -> String {
        if kind != "ed25519" && kind != "rsa" {
            panic!("host keys are \"ed25519\" or \"rsa\", not {kind:?}");
        }
        let line = self.exec_ok(&format!("cat /etc/ssh/ssh_host_{kind}_key.pub"));
        let fields: Vec<&str> = line.split_whitespace().take(2).collect();
        assert_eq!(
            fields.len(),
            2,
            "malformed {kind} host key on {}: {line:?}",
            self.name
        );
        fields.join(" ")
    }

    /// Adds `ms` milliseconds of latency to every packet towards the host (0 removes it).
    pub fn set_delay(&self, ms: u32) {
        self.script_ok(&["netem", &self.slot.to_string(), &self.name, &ms.to_string()]);
    }

    /// Cuts (`false`) or restores (`true`) the host's network link.
    pub fn set_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        self.script_ok(&["link", &self.slot.to_string(), &self.name, state]);
    }

    /// New ed25519 and rsa host keys; returns once sshd serves them.
    pub fn regenerate_host_keys(&self) {
        self.script_ok(&["rekey", &self.slot.to_string(), &self.name]);
    }

    /// A machine reinstalled under the same address: new host keys, and every SSH session
    /// to the old system gone (a client's persisted master with it).
    pub fn reinstall_ssh(&self) {
        self.regenerate_host_keys();
        self.end_ssh_sessions();
    }

    /// Ends every sshd session process, keeping the listener: what a reboot does to the
    /// connections clients hold.
    pub fn end_ssh_sessions(&self) {
        self.exec_ok(
            "listener=$(cat /run/mke-testbed-sshd.pid); \
             for pid in $(pgrep -x sshd); do \
               [ \"$pid\" = \"$listener\" ] || kill \"$pid\" 2>/dev/null; \
             done; true",
        );
    }

    /// The host's network namespace, for `ip netns exec`.
    pub fn netns(&self) -> String {
        format!("mtb{}-{}", self.slot, self.name)
    }

    fn script_ok(&self, args: &[&str]) {
        if let Err(e) = run_script(args) {
            panic!("test host {}: {e}", self.name);
        }
    }
}

/// Whether this machine can run test beds. If not: under `CI=true` it panics with
/// `reason` and the problem; elsewhere it prints `SKIPPED: ...` and returns false.
pub fn require_root_or_fail(reason: &str) -> bool {
    match preflight() {
        Ok(()) => true,
        Err(problem) => {
            if std::env::var("CI").is_ok_and(|ci| ci == "true" || ci == "1") {
                panic!("{reason}: {problem}");
            }
            eprintln!("SKIPPED: {reason}: {problem}");
            false
        }
    }
}

fn preflight() -> Result<(), String> {
    static VERDICT: OnceLock<Result<(), String>> = OnceLock::new();
    VERDICT
        .get_or_init(|| run_script(&["preflight"]).map(|_| ()))
        .clone()
}

fn run_script(args: &[&str]) -> Result<String, String> {
    let out = Command::new(SCRIPT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {SCRIPT}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "testbed.sh {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    }
}
