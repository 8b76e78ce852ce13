//! The test bed itself: hosts answer SSH with pinned host keys, are isolated
//! from one another and from the machine, obey latency and link controls, and
//! leave nothing behind.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::testbed::{require_root_or_fail, TestBed, TestHost};

const NEEDS: &str = "the test bed needs root, sshd and namespaces";

/// An ssh client configuration that trusts exactly `known_hosts` and the bed's key.
/// A config file, not `-o` flags, because `ssh -J` passes only `-F` on to the jump hop.
struct SshClient {
    dir: tempfile::TempDir,
}

impl SshClient {
    fn new(bed: &TestBed, known_hosts: &[String]) -> SshClient {
        let dir = tempfile::tempdir().unwrap();
        let known = dir.path().join("known_hosts");
        std::fs::write(&known, known_hosts.join("\n") + "\n").unwrap();
        let config = format!(
            "Host *\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  \
             BatchMode yes\n  IdentityFile {}\n  IdentitiesOnly yes\n  ConnectTimeout 3\n  LogLevel ERROR\n",
            known.display(),
            bed.client_key_path().display()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        SshClient { dir }
    }

    fn run(&self, extra: &[&str], destination: &str, command: &str) -> Output {
        Command::new("ssh")
            .arg("-F")
            .arg(self.dir.path().join("config"))
            .args(extra)
            .arg(destination)
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("ssh client")
    }
}

fn known_host(host: &TestHost, kind: &str) -> String {
    format!("{} {}", host.address, host.host_key(kind))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// One TCP handshake to the host's sshd: SYN out, SYN-ACK back, i.e. one round trip.
fn handshake_rtt(host: &TestHost) -> Duration {
    let addr: SocketAddr = format!("{}:22", host.address).parse().unwrap();
    let started = Instant::now();
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to sshd");
    started.elapsed()
}

fn fastest_of_five(host: &TestHost) -> Duration {
    (0..5).map(|_| handshake_rtt(host)).min().unwrap()
}

#[test]
fn ssh_as_root_works_only_with_the_pinned_host_key() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let bed = TestBed::new(&["pin1", "pin2"]).unwrap();
    let (a, b) = (bed.host("pin1"), bed.host("pin2"));

    let pinned = SshClient::new(&bed, &[known_host(a, "ed25519"), known_host(b, "ed25519")]);
    for host in [a, b] {
        let out = pinned.run(&[], &format!("root@{}", host.address), "hostname");
        assert!(
            out.status.success(),
            "ssh {}: {}",
            host.name,
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), host.name);
    }

    let rsa = SshClient::new(&bed, &[known_host(a, "rsa")]);
    let out = rsa.run(
        &["-o", "HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256"],
        &format!("root@{}", a.address),
        "id -un",
    );
    assert!(
        out.status.success(),
        "ssh with the rsa host key: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "root");

    // b's key pinned for a's address: every host has keys of its own.
    let wrong = SshClient::new(&bed, &[format!("{} {}", a.address, b.host_key("ed25519"))]);
    let out = wrong.run(&[], &format!("root@{}", a.address), "hostname");
    assert!(
        !out.status.success(),
        "ssh accepted a host key that is not a's"
    );
    assert!(
        text(&out.stderr).contains("Host key verification failed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn deploy_has_passwordless_sudo_and_needpw_is_asked_for_a_password() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let bed = TestBed::new(&["sudo1"]).unwrap();
    let host = bed.host("sudo1");
    let ssh = SshClient::new(&bed, &[known_host(host, "ed25519")]);

    let out = ssh.run(&[], &format!("deploy@{}", host.address), "sudo -n id -un");
    assert!(out.status.success(), "deploy: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "root");

    let out = ssh.run(
        &[],
        &format!("needpw@{}", host.address),
        "id -un && sudo -n true",
    );
    assert_eq!(
        text(&out.stdout),
        "needpw",
        "needpw logs in with the bed key"
    );
    assert!(
        !out.status.success(),
        "needpw's sudo ran without a password"
    );
    assert!(
        text(&out.stderr).contains("a password is required"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hosts_have_their_own_files_hostname_and_processes() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let bed = TestBed::new(&["iso1", "iso2"]).unwrap();
    let (a, b) = (bed.host("iso1"), bed.host("iso2"));

    assert_eq!(a.exec_ok("hostname").trim(), "iso1");
    assert_eq!(b.exec_ok("cat /proc/sys/kernel/hostname").trim(), "iso2");

    let marker = format!("/etc/mke-testbed-selftest-{}", std::process::id());
    a.exec_ok(&format!(
        "echo from-a > {marker} && echo from-a > /root/marker"
    ));
    assert_eq!(a.exec_ok(&format!("cat {marker}")).trim(), "from-a");
    assert!(
        !b.exec(&format!("test -e {marker}")).status.success(),
        "b sees a's file"
    );
    assert!(
        !b.exec("test -e /root/marker").status.success(),
        "b sees a's /root"
    );
    assert!(
        !Path::new(&marker).exists(),
        "a wrote into the real root fs"
    );
    let hidden = bed.state_dir().display().to_string();
    assert!(
        !a.exec(&format!("test -e {hidden}")).status.success(),
        "a can look into the bed's directory, including b's writable layer"
    );

    let processes = a.exec_ok("ps -eo pid=,comm=");
    let processes: Vec<(u32, String)> = processes
        .lines()
        .map(|line| {
            let (pid, comm) = line.trim().split_once(' ').unwrap();
            (pid.parse().unwrap(), comm.trim().to_string())
        })
        .collect();
    assert!(
        processes.contains(&(1, "bash".to_string())),
        "pid 1 should be the host's init: {processes:?}"
    );
    for (_, comm) in &processes {
        assert!(
            ["bash", "sshd", "sh", "ps"].contains(&comm.as_str()),
            "a process from outside the host is visible: {processes:?}"
        );
    }
    assert!(processes.len() <= 5, "{processes:?}");
    let init = a.exec_ok("tr '\\0' ' ' < /proc/1/cmdline");
    assert!(
        init.contains(&format!("mke-testbed-init:{}", a.netns())),
        "{init}"
    );
}

/// `path` on this machine, or `None` where there is no such file.
fn machine_file(path: &str) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

#[test]
fn hosts_have_a_fresh_hosts_dotfiles_and_the_machines_stay_untouched() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let machine_before = [
        machine_file("/root/.bashrc"),
        machine_file("/root/.profile"),
    ];
    let bed = TestBed::new(&["dot1"]).unwrap();
    let host = bed.host("dot1");
    let ssh = SshClient::new(&bed, &[known_host(host, "ed25519")]);

    for user in ["root", "deploy"] {
        let destination = format!("{user}@{}", host.address);
        let out = ssh.run(&[], &destination, "cat ~/.bashrc ~/.profile");
        assert!(
            out.status.success(),
            "{user} has no .bashrc or .profile: {}",
            text(&out.stderr)
        );
        let dotfiles = text(&out.stdout);
        for developer_tool in ["pyenv", ".cargo"] {
            assert!(
                !dotfiles.contains(developer_tool),
                "{user}'s dotfiles on the host come from the machine ({developer_tool}):\n{dotfiles}"
            );
        }
        let out = ssh.run(&[], &destination, "echo \"$PATH\"");
        assert!(
            !text(&out.stdout).contains("pyenv"),
            "an SSH command of {user} runs with pyenv on PATH: {}",
            text(&out.stdout)
        );
    }
    if let Some(debian) = machine_file("/usr/share/base-files/dot.bashrc") {
        assert_eq!(
            host.exec_ok("cat /root/.bashrc").as_bytes(),
            debian.as_slice(),
            "root's .bashrc is the one a fresh Debian host has"
        );
    }

    // What a host writes to its dotfiles stays in the host.
    let root = format!("root@{}", host.address);
    let out = ssh.run(
        &[],
        &root,
        "echo '# dot1 was here' >> ~/.bashrc && echo '# dot1 was here' >> ~/.profile",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(host
        .exec_ok("cat /root/.bashrc /root/.profile")
        .contains("# dot1 was here"));
    drop(bed);
    let machine_after = [
        machine_file("/root/.bashrc"),
        machine_file("/root/.profile"),
    ];
    assert!(
        machine_before == machine_after,
        "the machine's /root/.bashrc or /root/.profile changed"
    );
}

#[test]
fn latency_and_link_controls_change_what_the_network_does() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let bed = TestBed::new(&["lag1"]).unwrap();
    let host = bed.host("lag1");
    let ssh = SshClient::new(&bed, &[known_host(host, "ed25519")]);
    let root = format!("root@{}", host.address);

    let before = fastest_of_five(host);
    host.set_delay(20);
    let delayed = fastest_of_five(host);
    host.set_delay(0);
    let after = fastest_of_five(host);
    assert!(before < Duration::from_millis(20), "before: {before:?}");
    assert!(
        delayed >= Duration::from_millis(20),
        "with 20 ms delay: {delayed:?}"
    );
    assert!(
        after < Duration::from_millis(20),
        "after removing the delay: {after:?}"
    );

    host.set_link(false);
    let out = ssh.run(&[], &root, "true");
    assert!(!out.status.success(), "ssh worked over a cut link");
    let addr: SocketAddr = format!("{}:22", host.address).parse().unwrap();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());

    host.set_link(true);
    let out = ssh.run(&[], &root, "hostname");
    assert!(
        out.status.success(),
        "after the link is back: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "lag1");
}

#[test]
fn new_host_keys_are_served_after_regeneration() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let bed = TestBed::new(&["rekey1"]).unwrap();
    let host = bed.host("rekey1");
    let old = known_host(host, "ed25519");
    host.regenerate_host_keys();
    let new = known_host(host, "ed25519");
    assert_ne!(old, new);

    let out = SshClient::new(&bed, &[old]).run(&[], &format!("root@{}", host.address), "true");
    assert!(!out.status.success(), "the old host key is still served");
    assert!(
        text(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        text(&out.stderr)
    );

    let out = SshClient::new(&bed, &[new]).run(&[], &format!("root@{}", host.address), "hostname");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "rekey1");
}

#[test]
fn a_host_behind_a_bastion_is_reachable_only_through_it() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let mut bed = TestBed::new(&["bast1"]).unwrap();
    bed.add_host_behind("bast1", "hid1");
    let (bastion, hidden) = (bed.host("bast1"), bed.host("hid1"));
    assert_ne!(
        bastion.address.rsplit_once('.').unwrap().0,
        hidden.address.rsplit_once('.').unwrap().0
    );

    let addr: SocketAddr = format!("{}:22", hidden.address).parse().unwrap();
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
        "{} is reachable without the bastion",
        hidden.address
    );

    let ssh = SshClient::new(
        &bed,
        &[
            known_host(bastion, "ed25519"),
            known_host(hidden, "ed25519"),
        ],
    );
    let jump = format!("root@{}", bastion.address);
    let out = ssh.run(
        &["-J", &jump],
        &format!("root@{}", hidden.address),
        "hostname",
    );
    assert!(out.status.success(), "ssh -J: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hid1");

    let out = ssh.run(&[], &format!("root@{}", hidden.address), "hostname");
    assert!(
        !out.status.success(),
        "ssh reached the hidden host directly"
    );
}

/// (pid, start time): a process identity that survives pid reuse.
fn process_identity(pid: &str) -> Option<(String, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(") ")?.1;
    let start = after_comm.split_whitespace().nth(19)?.to_string();
    Some((pid.to_string(), start))
}

fn command_text(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dropping_the_bed_leaves_no_namespace_interface_mount_process_or_file() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    let bed = TestBed::new(&["gone1", "gone2"]).unwrap();
    let slot = bed.slot();
    let state_dir = bed.state_dir().to_path_buf();
    let netns_prefix = format!("mtb{slot}-");
    let bridge = format!("mtb{slot}");
    let inits: Vec<String> = bed
        .hosts()
        .iter()
        .map(|h| format!("mke-testbed-init:{}", h.netns()))
        .collect();
    let mut processes = Vec::new();
    for host in bed.hosts() {
        let pids = command_text("ip", &["netns", "pids", &host.netns()]);
        processes.extend(pids.split_whitespace().filter_map(process_identity));
    }
    // Each host has at least its namespace holder, its init and sshd.
    assert!(processes.len() >= 6, "{processes:?}");
    assert!(command_text("ip", &["netns", "list"]).contains(&netns_prefix));
    assert!(std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(&format!("/run/netns/{netns_prefix}")));
    assert!(command_text("ip", &["-o", "link", "show"]).contains(&format!(": {bridge}:")));
    assert!(state_dir.exists());

    drop(bed);

    let netns = command_text("ip", &["netns", "list"]);
    assert!(!netns.contains(&netns_prefix), "{netns}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&netns_prefix), "{mounts}");
    assert!(!mounts.contains(&*state_dir.to_string_lossy()), "{mounts}");
    let links = command_text("ip", &["-o", "link", "show"]);
    assert!(!links.contains(&format!(": {bridge}:")), "{links}");
    assert!(!links.contains(&format!(": {bridge}h")), "{links}");
    for (pid, start) in &processes {
        assert_ne!(
            process_identity(pid).map(|(_, s)| s),
            Some(start.clone()),
            "process {pid} of the bed survived (or is an unreaped zombie): {}",
            std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
        );
    }
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            !inits.iter().any(|init| cmdline.contains(init)),
            "a host init survived: {cmdline}"
        );
    }
    assert!(
        !state_dir.exists(),
        "{} is still there",
        state_dir.display()
    );
}

/// Bring-up cost for benchmarks: `cargo test --test testbed_selftest -- --ignored --nocapture`.
#[test]
#[ignore]
fn bring_up_time_and_memory_per_host() {
    if !require_root_or_fail(NEEDS) {
        return;
    }
    for count in [1usize, 10, 50] {
        let names: Vec<String> = (1..=count).map(|i| format!("bench{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let available_before = mem_available_kib();
        let started = Instant::now();
        let bed = TestBed::new(&names).unwrap();
        let up = started.elapsed();
        let available_after = mem_available_kib();
        for host in bed.hosts() {
            handshake_rtt(host);
        }
        let mut pss_kib = 0;
        for host in bed.hosts() {
            let pids = command_text("ip", &["netns", "pids", &host.netns()]);
            for pid in pids.split_whitespace() {
                pss_kib += pss_of(pid);
            }
        }
        let started = Instant::now();
        drop(bed);
        let down = started.elapsed();
        println!(
            "{count:>3} hosts: up {up:.2?}, down {down:.2?}, PSS of host processes {:.1} MiB/host, \
             MemAvailable drop {:.1} MiB/host",
            pss_kib as f64 / 1024.0 / count as f64,
            available_before.saturating_sub(available_after) as f64 / 1024.0 / count as f64,
        );
    }
}

fn mem_available_kib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn pss_of(pid: &str) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
