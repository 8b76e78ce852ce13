//! A non-root login: commands go through `sudo -n`, and a user without passwordless sudo is told
//! what is missing. The test creates throwaway users and a sudoers drop-in and removes them.

mod common;

use std::path::PathBuf;
use std::process::Command as Process;
use std::time::Duration;

use common::{prerequisites_or_skip, Sshd};
use mke_ssh::{Command, Pool, SshError, Target};

const CONNECT: Duration = Duration::from_secs(30);

/// Users and the sudoers drop-in made for the test, removed however the test ends.
struct Throwaway {
    users: Vec<String>,
    sudoers: PathBuf,
}

impl Throwaway {
    fn create(sshd: &Sshd, with_sudo: &str, without_sudo: &str) -> Throwaway {
        let mut made = Throwaway {
            users: Vec::new(),
            sudoers: PathBuf::from(format!(
                "/etc/sudoers.d/mke-ssh-test-{}",
                std::process::id()
            )),
        };
        for user in [with_sudo, without_sudo] {
            let home = sshd.dir.path().join(format!("home-{user}"));
            let status = Process::new("useradd")
                .args(["-m", "-s", "/bin/sh", "-p", "*", "-d"])
                .arg(&home)
                .arg(user)
                .status()
                .expect("useradd runs");
            assert!(status.success(), "useradd {user} failed");
            made.users.push(user.to_string());
        }
        std::fs::write(
            &made.sudoers,
            format!("{with_sudo} ALL=(ALL) NOPASSWD: ALL\n"),
        )
        .unwrap();
        std::fs::set_permissions(
            &made.sudoers,
            std::os::unix::fs::PermissionsExt::from_mode(0o440),
        )
        .unwrap();
        made
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.sudoers);
        for user in &self.users {
            let _ = Process::new("userdel")
                .args(["-r", "-f", user])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn user_tools_missing() -> Option<&'static str> {
    ["/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/sudo"]
        .into_iter()
        .find(|tool| !std::path::Path::new(tool).exists())
}

#[tokio::test]
async fn a_non_root_user_works_through_passwordless_sudo() {
    if !prerequisites_or_skip("a_non_root_user_works_through_passwordless_sudo") {
        return;
    }
    if let Some(tool) = user_tools_missing() {
        let why = format!("{tool} is missing (Debian: apt-get install passwd sudo)");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED a_non_root_user_works_through_passwordless_sudo: {why}");
        return;
    }
    let sshd = Sshd::start();
    let pid = std::process::id();
    let (admin, plain) = (format!("mkesudo{pid}"), format!("mkeplain{pid}"));
    let _users = Throwaway::create(&sshd, &admin, &plain);
    let pool = Pool::new(sshd.defaults());

    let as_admin = Target {
        user: Some(admin.clone()),
        ..sshd.target()
    };
    let host = pool.connect(&as_admin, CONNECT).await.unwrap();
    assert!(!host.is_root());
    assert_eq!(host.name(), format!("{admin}@127.0.0.1:{}", sshd.port));
    assert_eq!(host.check(&Command::new("id -u")).await.unwrap(), "0\n");
    assert_eq!(
        host.check(&Command::new("id -un").sudo(false))
            .await
            .unwrap(),
        format!("{admin}\n")
    );
    assert_eq!(
        host.check(&Command::new("cat").stdin("through sudo"))
            .await
            .unwrap(),
        "through sudo"
    );

    // The remote timer runs as root too, so it can stop what sudo started.
    let pid_file = sshd.dir.path().join("root-sleeper.pid");
    let err = host
        .run(
            &Command::new(format!("echo $$ > {}; exec sleep 30", pid_file.display()))
                .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Timeout { .. }), "{err:?}");
    let sleeper: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!common::process_alive(sleeper));

    let local = sshd.dir.path().join("payload");
    std::fs::write(&local, b"root-owned payload").unwrap();
    let remote = sshd.dir.path().join("root-only/payload");
    host.upload(&local, remote.to_str().unwrap(), 0o600)
        .await
        .unwrap();
    let owner = host
        .check(&Command::new(format!("stat -c %U:%a {}", remote.display())))
        .await
        .unwrap();
    assert_eq!(owner, "root:600\n");

    // Streams pass through sudo both ways: into a root-only file and back out of it.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let local_big = sshd.dir.path().join("big-payload");
    std::fs::write(&local_big, &big).unwrap();
    let root_only = sshd.dir.path().join("root-only/backup");
    host.check(
        &Command::new(format!("umask 077; cat > {}", root_only.display())).stdin_file(&local_big),
    )
    .await
    .unwrap();
    let mut back = Vec::new();
    let copied = host
        .check_stdout_to(
            &Command::new(format!("cat {}", root_only.display())),
            &mut back,
        )
        .await
        .unwrap();
    assert_eq!(copied, big.len() as u64);
    assert!(back == big, "the root-only file came back different");
    let refused = host
        .run_stdout_to(
            &Command::new(format!("cat {}", root_only.display())).sudo(false),
            &mut Vec::new(),
        )
        .await
        .unwrap();
    assert_ne!(
        refused.status, 0,
        "{admin} read a root-only file without sudo"
    );

    let as_plain = Target {
        user: Some(plain.clone()),
        ..sshd.target()
    };
    let err = pool.connect(&as_plain, CONNECT).await.unwrap_err();
    assert!(
        matches!(&err, SshError::SudoNeedsPassword { user, .. } if *user == plain),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "user {plain} on host {plain}@127.0.0.1:{} needs passwordless sudo (sudo -n)",
            sshd.port
        )),
        "{message}"
    );
}
