//! The SSH layer against a real sshd on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{keygen, keygen_fingerprint, prerequisites_or_skip, Sshd};
use mke_ssh::{Command, Output, Pool, SshError, Target};
use sha2::{Digest, Sha256};

const CONNECT: Duration = Duration::from_secs(30);

macro_rules! sshd_or_skip {
    ($name:literal) => {{
        if !prerequisites_or_skip($name) {
            return;
        }
        Sshd::start()
    }};
}

#[tokio::test]
async fn run_reports_exit_status_and_output() {
    let sshd = sshd_or_skip!("run_reports_exit_status_and_output");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    assert!(host.is_root());
    assert_eq!(host.name(), format!("root@127.0.0.1:{}", sshd.port));

    let output = host
        .run(&Command::new("echo out; echo err >&2; exit 3"))
        .await
        .unwrap();
    assert_eq!(
        output,
        Output {
            status: 3,
            stdout: "out\n".into(),
            stderr: "err\n".into()
        }
    );

    let missing = host
        .run(&Command::new("no-such-command-here"))
        .await
        .unwrap();
    assert_eq!(missing.status, 127);
    assert!(missing.stderr.contains("not found"), "{missing:?}");

    let quoted = host
        .check(&Command::new(r#"printf '%s|' "it's" "$HOME""#))
        .await
        .unwrap();
    assert_eq!(quoted, "it's|/root|");
}

#[tokio::test]
async fn check_failure_carries_host_command_and_stderr_tail() {
    let sshd = sshd_or_skip!("check_failure_carries_host_command_and_stderr_tail");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let cmd = Command::new("for i in $(seq 1 30); do echo \"problem $i\" >&2; done; exit 4")
        .display("k0s install controller");
    let err = host.check(&cmd).await.unwrap_err();
    let SshError::CommandFailed {
        host: name,
        command,
        exit_code,
        stderr_tail,
    } = &err
    else {
        panic!("expected CommandFailed, got {err:?}");
    };
    assert_eq!(name, host.name());
    assert_eq!(command, "k0s install controller");
    assert_eq!(*exit_code, 4);
    assert_eq!(stderr_tail.lines().count(), 20);
    assert!(stderr_tail.starts_with("problem 11\n"), "{stderr_tail}");
    assert!(stderr_tail.ends_with("problem 30"), "{stderr_tail}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "command `k0s install controller` failed on {} with exit code 4:\n",
            host.name()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn stdin_reaches_the_script_and_never_the_error() {
    let sshd = sshd_or_skip!("stdin_reaches_the_script_and_never_the_error");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();

    let secret = "join-token-\u{e9}-line1\nline2 'quoted' $NOT_EXPANDED\n";
    let echoed = host
        .check(&Command::new("cat").stdin(secret))
        .await
        .unwrap();
    assert_eq!(echoed, secret);

    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let counted = host.check(&Command::new("wc -c").stdin(big)).await.unwrap();
    assert_eq!(counted.trim(), "1000000");

    let err = host
        .check(&Command::new("cat >/dev/null; exit 1").stdin("s3cr3t-value"))
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cr3t-value"));
}

#[tokio::test]
async fn timeout_kills_the_remote_command() {
    let sshd = sshd_or_skip!("timeout_kills_the_remote_command");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let pid_file = sshd.dir.path().join("sleeper.pid");
    let script = format!("sh -c 'echo $$ > {}; exec sleep 30'", pid_file.display());

    let started = Instant::now();
    let err = host
        .run(
            &Command::new(script)
                .display("wait for the API")
                .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, SshError::Timeout { command, after, .. }
            if command == "wait for the API" && *after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "command `wait for the API` on {} timed out after 1s",
            host.name()
        )
    );
    // `timeout` reaps its children before it exits, so the sleeper is gone by now.
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !common::process_alive(pid),
        "remote command {pid} still runs"
    );

    // The connection is still usable afterwards.
    assert_eq!(host.check(&Command::new("echo ok")).await.unwrap(), "ok\n");
}

#[tokio::test]
async fn first_use_records_the_key_and_a_pinned_connect_accepts_it() {
    let sshd = sshd_or_skip!("first_use_records_the_key_and_a_pinned_connect_accepts_it");
    let recorded = {
        let pool = Pool::new(sshd.defaults());
        let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
        host.host_key().to_string()
    };
    assert_eq!(recorded, sshd.host_public_key());

    let pool = Pool::new(sshd.defaults());
    let pinned = Target {
        host_key: Some(format!("{recorded} a comment that does not matter")),
        ..sshd.target()
    };
    let host = pool.connect(&pinned, CONNECT).await.unwrap();
    assert_eq!(host.host_key(), recorded);
    assert_eq!(
        host.check(&Command::new("echo pinned")).await.unwrap(),
        "pinned\n"
    );
    assert_eq!(pool.connections_opened(), 1);
}

#[tokio::test]
async fn a_wrong_pinned_key_names_the_host_and_both_fingerprints() {
    let sshd = sshd_or_skip!("a_wrong_pinned_key_names_the_host_and_both_fingerprints");
    let other = sshd.dir.path().join("other_ed25519");
    let wrong_key = keygen(&other, "ed25519");
    let pool = Pool::new(sshd.defaults());
    let target = Target {
        host_key: Some(wrong_key),
        ..sshd.target()
    };
    let err = pool.connect(&target, CONNECT).await.unwrap_err();
    let expected = keygen_fingerprint(&other);
    let presented = sshd.host_fingerprint();
    assert!(
        matches!(&err, SshError::HostKeyChanged { host, expected_fingerprint, presented_fingerprint }
            if *host == format!("root@127.0.0.1:{}", sshd.port)
                && *expected_fingerprint == expected
                && *presented_fingerprint == presented),
        "{err:?}"
    );
    let message = err.to_string();
    for part in [
        &format!("root@127.0.0.1:{}", sshd.port),
        &expected,
        &presented,
    ] {
        assert!(message.contains(part.as_str()), "{message}");
    }
    assert!(
        !message.to_lowercase().contains("terraform"),
        "advice is the caller's: {message}"
    );
    assert_eq!(pool.connections_opened(), 0);
}

#[tokio::test]
async fn a_pinned_key_of_a_type_the_host_lacks_is_a_changed_key() {
    let sshd = sshd_or_skip!("a_pinned_key_of_a_type_the_host_lacks_is_a_changed_key");
    let other = sshd.dir.path().join("other_ecdsa");
    let pool = Pool::new(sshd.defaults());
    let target = Target {
        host_key: Some(keygen(&other, "ecdsa")),
        ..sshd.target()
    };
    let err = pool.connect(&target, CONNECT).await.unwrap_err();
    assert!(
        matches!(&err, SshError::HostKeyChanged { expected_fingerprint, presented_fingerprint, .. }
            if *expected_fingerprint == keygen_fingerprint(&other)
                && *presented_fingerprint == sshd.host_fingerprint()),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_gives_up_at_the_deadline() {
    if !prerequisites_or_skip("connection_refused_gives_up_at_the_deadline") {
        return;
    }
    let port = common::free_port();
    let pool = Pool::new(mke_ssh::SshDefaults {
        port,
        ..Default::default()
    });
    let started = Instant::now();
    let err = pool
        .connect(&Target::new("127.0.0.1"), Duration::from_secs(3))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(6),
        "gave up after {elapsed:?}"
    );
    let message = err.to_string();
    assert!(matches!(err, SshError::ConnectionRefused { .. }), "{err:?}");
    assert!(!err.is_unreachable(), "something answered: {err:?}");
    assert!(
        message.starts_with(&format!(
            "cannot connect to root@127.0.0.1:{port}: no SSH connection within"
        )),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_waits_for_a_host_whose_sshd_starts_late() {
    if !prerequisites_or_skip("connect_waits_for_a_host_whose_sshd_starts_late") {
        return;
    }
    let port = common::free_port();
    let client_keys = tempfile::tempdir().unwrap();
    let client_key = client_keys.path().join("id");
    let client_public = keygen(&client_key, "ed25519");
    let pool = Pool::new(mke_ssh::SshDefaults {
        port,
        private_key: Some(std::fs::read_to_string(&client_key).unwrap().into()),
        ..Default::default()
    });
    let connecting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.connect(&Target::new("127.0.0.1"), CONNECT).await })
    };
    // Like a machine still booting: nothing listens yet, then sshd comes up.
    let sshd = tokio::task::spawn_blocking(move || Sshd::start_on(port, Some(client_public)))
        .await
        .unwrap();
    let host = connecting.await.unwrap().unwrap();
    assert_eq!(host.host_key(), sshd.host_public_key());
    assert_eq!(pool.connections_opened(), 1);
}

#[tokio::test]
async fn an_unauthorized_key_fails_at_once_without_retrying() {
    let sshd = sshd_or_skip!("an_unauthorized_key_fails_at_once_without_retrying");
    let stranger = sshd.dir.path().join("stranger_ed25519");
    keygen(&stranger, "ed25519");
    let pool = Pool::new(mke_ssh::SshDefaults {
        private_key: Some(std::fs::read_to_string(&stranger).unwrap().into()),
        ..sshd.defaults()
    });
    let started = Instant::now();
    let err = pool.connect(&sshd.target(), CONNECT).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = err.to_string();
    assert!(
        matches!(&err, SshError::LoginRefused { user, retried_for: None, .. } if user == "root"),
        "{err:?}"
    );
    assert!(!err.is_unreachable(), "the host answered: {err:?}");
    assert!(
        message.contains("refused the login of user root"),
        "{message}"
    );
    assert!(!message.contains("PRIVATE KEY"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_refused_until_the_key_is_authorized_is_retried_when_asked() {
    let sshd = sshd_or_skip!("a_login_refused_until_the_key_is_authorized_is_retried_when_asked");
    let late = sshd.dir.path().join("late_ed25519");
    let late_public = keygen(&late, "ed25519");
    let pool = Pool::new(mke_ssh::SshDefaults {
        private_key: Some(std::fs::read_to_string(&late).unwrap().into()),
        ..sshd.defaults()
    });
    let connecting = {
        let pool = pool.clone();
        let target = sshd.target();
        tokio::spawn(async move {
            pool.connect(
                &target,
                mke_ssh::ConnectPolicy {
                    timeout: CONNECT,
                    retry_refused_login: true,
                },
            )
            .await
        })
    };
    // Like cloud-init writing authorized_keys after sshd already answers: the key is added once
    // sshd has refused it.
    let refused = |sshd: &Sshd| {
        sshd.log()
            .iter()
            .filter(|line| line.contains("Connection closed by authenticating user"))
            .count()
    };
    common::wait_for("a refused login", Duration::from_secs(20), || {
        refused(&sshd) >= 1
    });
    let authorized = sshd.dir.path().join("authorized_keys");
    let mut keys = std::fs::read_to_string(&authorized).unwrap();
    keys.push_str(&format!("{late_public}\n"));
    std::fs::write(&authorized, keys).unwrap();

    let host = connecting
        .await
        .unwrap()
        .expect("connected once the key was authorized");
    assert_eq!(host.check(&Command::new("echo in")).await.unwrap(), "in\n");
    assert_eq!(sshd.logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_one_master() {
    let sshd = sshd_or_skip!("concurrent_commands_share_one_master");
    let pool = Pool::new(sshd.defaults());
    let target = sshd.target();
    // More commands at once than sshd's default MaxSessions (10) allows on one connection.
    let tasks: Vec<_> = (0..24)
        .map(|n| {
            let pool = pool.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let host = pool.connect(&target, CONNECT).await.unwrap();
                let out = host
                    .check(&Command::new(format!("sleep 0.2; echo {n}")))
                    .await
                    .unwrap();
                (host, out)
            })
        })
        .collect();
    let mut hosts = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        let (host, out) = task.await.unwrap();
        assert_eq!(out, format!("{n}\n"));
        hosts.push(host);
    }
    assert_eq!(pool.connections_opened(), 1);
    assert!(hosts.iter().all(|host| Arc::ptr_eq(host, &hosts[0])));
    assert_eq!(
        hosts[0].round_trips(),
        24 + 1,
        "24 commands and the setup probe"
    );
}

#[tokio::test]
async fn upload_delivers_an_exact_copy_atomically() {
    let sshd = sshd_or_skip!("upload_delivers_an_exact_copy_atomically");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();

    let local = sshd.dir.path().join("k0s-local");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let content: Vec<u8> = (0..5 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&local, &content).unwrap();
    let expected = format!("{:x}", Sha256::digest(&content));

    let remote_dir = sshd.dir.path().join("remote/bin");
    let remote = remote_dir.join("k0s");
    let remote_text = remote.to_str().unwrap();
    std::fs::create_dir_all(&remote_dir).unwrap();
    std::fs::write(&remote, b"old binary").unwrap();

    let sent = host.upload(&local, remote_text, 0o750).await.unwrap();
    assert_eq!(sent, content.len() as u64);
    let remote_sum = host
        .check(&Command::new(format!("sha256sum {remote_text}")))
        .await
        .unwrap();
    assert_eq!(
        remote_sum.split_whitespace().next(),
        Some(expected.as_str())
    );
    let mode = host
        .check(&Command::new(format!("stat -c %a {remote_text}")))
        .await
        .unwrap();
    assert_eq!(mode.trim(), "750");
    let leftovers: Vec<_> = std::fs::read_dir(&remote_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("k0s")]);

    let missing = host
        .upload(&local, "/proc/no/such/dir/k0s", 0o755)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, SshError::CommandFailed { .. }),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_dead_master_is_replaced_on_next_use() {
    let sshd = sshd_or_skip!("a_dead_master_is_replaced_on_next_use");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let first = common::master_pid(&host.control_socket());
    // The master is a process this test's pool started; ending it by its pid.
    std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    common::wait_for("the killed master to exit", Duration::from_secs(10), || {
        !common::process_alive(first)
    });

    assert_eq!(
        host.check(&Command::new("echo back")).await.unwrap(),
        "back\n"
    );
    assert_eq!(pool.connections_opened(), 2);
    let again = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    assert!(Arc::ptr_eq(&host, &again));
    assert_eq!(pool.connections_opened(), 2);
    assert_ne!(common::master_pid(&host.control_socket()), first);
}

#[tokio::test]
async fn dropping_the_pool_ends_its_masters() {
    let sshd = sshd_or_skip!("dropping_the_pool_ends_its_masters");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let socket = host.control_socket();
    let pid = common::master_pid(&socket);
    drop(host);
    drop(pool);
    common::wait_for("the master to exit", Duration::from_secs(10), || {
        !common::process_alive(pid)
    });
    assert!(
        !socket.parent().unwrap().exists(),
        "control directory left behind"
    );
}

#[tokio::test]
async fn a_bastion_carries_the_connection() {
    let sshd = sshd_or_skip!("a_bastion_carries_the_connection");
    let bastion = mke_ssh::Bastion {
        host: "127.0.0.1".into(),
        port: sshd.port,
        user: "root".into(),
        private_key: None,
        host_key: Some(sshd.host_public_key()),
    };
    let pool = Pool::new(mke_ssh::SshDefaults {
        bastion: Some(bastion.clone()),
        ..sshd.defaults()
    });
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    assert_eq!(
        host.check(&Command::new("echo via jump")).await.unwrap(),
        "via jump\n"
    );
    assert_eq!(host.host_key(), sshd.host_public_key());

    let other = sshd.dir.path().join("not_the_bastion");
    let wrong = mke_ssh::Bastion {
        host_key: Some(keygen(&other, "ed25519")),
        ..bastion
    };
    let pool = Pool::new(mke_ssh::SshDefaults {
        bastion: Some(wrong),
        ..sshd.defaults()
    });
    let err = pool.connect(&sshd.target(), CONNECT).await.unwrap_err();
    assert!(
        matches!(&err, SshError::HostKeyChanged { host, expected_fingerprint, presented_fingerprint }
            if *host == format!("bastion root@127.0.0.1:{0} (jump host for root@127.0.0.1:{0})", sshd.port)
                && *expected_fingerprint == keygen_fingerprint(&other)
                && *presented_fingerprint == sshd.host_fingerprint()),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_bastion_that_does_not_carry_the_connection_is_not_an_unreachable_target() {
    let sshd =
        sshd_or_skip!("a_bastion_that_does_not_carry_the_connection_is_not_an_unreachable_target");
    let closed_port = common::free_port();
    let pool = Pool::new(mke_ssh::SshDefaults {
        bastion: Some(mke_ssh::Bastion {
            host: "127.0.0.1".into(),
            port: closed_port,
            user: "root".into(),
            private_key: None,
            host_key: Some(sshd.host_public_key()),
        }),
        ..sshd.defaults()
    });
    let err = pool
        .connect(&sshd.target(), Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SshError::BastionConnect { host, bastion, .. }
            if *host == format!("root@127.0.0.1:{}", sshd.port)
                && *bastion == format!("root@127.0.0.1:{closed_port}")),
        "{err:?}"
    );
    assert!(!err.is_unreachable(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("Connection refused"), "{message}");
}

#[tokio::test]
async fn an_unpinned_bastion_must_be_a_known_host() {
    let sshd = sshd_or_skip!("an_unpinned_bastion_must_be_a_known_host");
    // A name no ~/.ssh/known_hosts has an entry for, resolving to the test sshd.
    let pool = Pool::new(mke_ssh::SshDefaults {
        bastion: Some(mke_ssh::Bastion {
            host: "localhost".into(),
            port: sshd.port,
            user: "root".into(),
            private_key: None,
            host_key: None,
        }),
        ..sshd.defaults()
    });
    let started = Instant::now();
    let err = pool.connect(&sshd.target(), CONNECT).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "retried a refused host key"
    );
    let message = err.to_string();
    assert!(
        matches!(&err, SshError::BastionHostKeyUnknown { bastion, .. }
            if *bastion == format!("root@localhost:{}", sshd.port)),
        "{err:?}"
    );
    assert!(!err.is_unreachable());
    assert!(
        message.starts_with(&format!(
            "cannot connect to root@127.0.0.1:{0}: the host key of bastion root@localhost:{0} \
             (jump host for root@127.0.0.1:{0}) is not in ~/.ssh/known_hosts or does not match it (",
            sshd.port
        )),
        "{message}"
    );
}
