//! Byte streams through a real sshd on 127.0.0.1: a command's stdout written to a local writer as
//! it arrives, and a local file streamed into a command's stdin.

mod common;

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{prerequisites_or_skip, Sshd};
use mke_ssh::{Command, Pool, SshError};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWrite;

const CONNECT: Duration = Duration::from_secs(30);
const TWENTY_MB: usize = 20 * 1024 * 1024;

macro_rules! sshd_or_skip {
    ($name:literal) => {{
        if !prerequisites_or_skip($name) {
            return;
        }
        Sshd::start()
    }};
}

/// Incompressible bytes, the same for a given seed.
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn write_noise(path: &Path, len: usize, seed: u64) -> String {
    let content = noise(len, seed);
    std::fs::write(path, &content).unwrap();
    sha256_hex(&content)
}

#[tokio::test]
async fn stdout_of_twenty_megabytes_reaches_a_local_file_byte_for_byte() {
    let sshd = sshd_or_skip!("stdout_of_twenty_megabytes_reaches_a_local_file_byte_for_byte");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    // The "remote" host is this machine: the command reads a file the test wrote.
    let remote = sshd.dir.path().join("backup.tar.gz");
    let expected = write_noise(&remote, TWENTY_MB, 0x2545_f491_4f6c_dd1d);

    let local = sshd.dir.path().join("received.tar.gz");
    let mut file = tokio::fs::File::create(&local).await.unwrap();
    let written = host
        .check_stdout_to(
            &Command::new(format!("cat {}", remote.display())).display("k0s backup"),
            &mut file,
        )
        .await
        .unwrap();
    drop(file);
    assert_eq!(written, TWENTY_MB as u64);
    assert_eq!(sha256_hex(&std::fs::read(&local).unwrap()), expected);

    // A failing command reports its status and stderr; what it printed before is in the writer.
    let mut sink = Vec::new();
    let output = host
        .run_stdout_to(
            &Command::new("printf partial; echo broken archive >&2; exit 5"),
            &mut sink,
        )
        .await
        .unwrap();
    assert_eq!(output.status, 5);
    assert_eq!(output.stdout_bytes, 7);
    assert_eq!(output.stderr, "broken archive\n");
    assert_eq!(sink, b"partial");
    let err = host
        .check_stdout_to(&Command::new("exit 3").display("k0s backup"), &mut sink)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SshError::CommandFailed { command, exit_code: 3, .. } if command == "k0s backup"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_local_file_of_twenty_megabytes_streams_into_stdin() {
    let sshd = sshd_or_skip!("a_local_file_of_twenty_megabytes_streams_into_stdin");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let local = sshd.dir.path().join("backup.tar.gz");
    let expected = write_noise(&local, TWENTY_MB, 0x9e37_79b9_7f4a_7c15);

    let summed = host
        .check(&Command::new("sha256sum").stdin_file(&local))
        .await
        .unwrap();
    assert_eq!(summed.split_whitespace().next(), Some(expected.as_str()));

    let remote = sshd.dir.path().join("restored.tar.gz");
    host.check(&Command::new(format!("cat > {}", remote.display())).stdin_file(&local))
        .await
        .unwrap();
    assert_eq!(sha256_hex(&std::fs::read(&remote).unwrap()), expected);

    // A command that stops reading early is judged by its exit status, not by the broken pipe.
    let head = host
        .check(&Command::new("head -c 5 | od -An -tx1").stdin_file(&local))
        .await
        .unwrap();
    let first: Vec<String> = noise(5, 0x9e37_79b9_7f4a_7c15)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(head.split_whitespace().collect::<Vec<_>>(), first);
}

#[tokio::test]
async fn a_stdin_file_that_cannot_be_opened_runs_nothing() {
    let sshd = sshd_or_skip!("a_stdin_file_that_cannot_be_opened_runs_nothing");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let marker = sshd.dir.path().join("restore-ran");
    let missing = sshd.dir.path().join("no-such-backup.tar.gz");
    let err = host
        .check(
            &Command::new(format!("touch {}; cat >/dev/null", marker.display()))
                .display("k0s restore -")
                .stdin_file(&missing),
        )
        .await
        .unwrap_err();
    let SshError::Io { action, source, .. } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        action,
        &format!(
            "opening {} as the input of `k0s restore -`",
            missing.display()
        )
    );
    assert!(!marker.exists(), "the command ran without its input");
    assert_eq!(host.round_trips(), 2, "the probe and the refused command");
}

/// Creates `marker` when the first bytes arrive, which the remote command waits for before it
/// prints the rest: the command can only finish if its output is delivered while it runs.
struct SignalOnFirstWrite {
    marker: PathBuf,
    received: Vec<u8>,
}

impl AsyncWrite for SignalOnFirstWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.received.is_empty() && !buf.is_empty() {
            std::fs::write(&self.marker, b"")?;
        }
        self.received.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn stdout_reaches_the_writer_while_the_command_still_runs() {
    let sshd = sshd_or_skip!("stdout_reaches_the_writer_while_the_command_still_runs");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let marker = sshd.dir.path().join("first-chunk-arrived");
    let script = format!(
        "printf first; i=0; while [ ! -e {m} ]; do i=$((i+1)); [ $i -gt 400 ] && exit 9; \
         sleep 0.05; done; printf second",
        m = marker.display()
    );
    let mut writer = SignalOnFirstWrite {
        marker,
        received: Vec::new(),
    };
    let output = host
        .run_stdout_to(&Command::new(script), &mut writer)
        .await
        .unwrap();
    assert_eq!(
        output.status, 0,
        "the first bytes were held back: {output:?}"
    );
    assert_eq!(writer.received, b"firstsecond");
}

/// Refuses every write, like a full disk.
struct FullDisk;

impl AsyncWrite for FullDisk {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::other("no space left on the test device")))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_failing_writer_stops_the_command_with_an_io_error() {
    let sshd = sshd_or_skip!("a_failing_writer_stops_the_command_with_an_io_error");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let started = Instant::now();
    let err = host
        .run_stdout_to(
            &Command::new("cat /dev/zero")
                .display("k0s backup")
                .timeout(Duration::from_secs(60)),
            &mut FullDisk,
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30));
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "writing the output of `k0s backup` locally for {}: no space left on the test device",
            host.name()
        )
    );
    // The connection still serves the next command.
    assert_eq!(host.check(&Command::new("echo ok")).await.unwrap(), "ok\n");
}

#[tokio::test]
async fn a_stream_that_outlasts_its_timeout_is_stopped() {
    let sshd = sshd_or_skip!("a_stream_that_outlasts_its_timeout_is_stopped");
    let pool = Pool::new(sshd.defaults());
    let host = pool.connect(&sshd.target(), CONNECT).await.unwrap();
    let started = Instant::now();
    let err = host
        .run_stdout_to(
            &Command::new("cat /dev/zero")
                .display("k0s backup")
                .timeout(Duration::from_secs(1)),
            &mut tokio::io::sink(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SshError::Timeout { command, after, .. }
            if command == "k0s backup" && *after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
