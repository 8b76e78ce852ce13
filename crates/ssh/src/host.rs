use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssh::{Session, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tracing::{debug, info};

use crate::command::{
    ceil_secs, remote_command_line, shell_quote, sudo_wants_password, tail_lines, Wrapping,
    KILL_GRACE_SECS,
};
use crate::host_key::HostKey;
use crate::master::{self, Endpoint, LaunchSpec};
use crate::{human_duration, Command, Output, SshDefaults, SshError, STDERR_TAIL_LINES};

/// sshd allows 10 sessions per connection by default (MaxSessions); staying below it keeps
/// concurrent commands on one host queueing here instead of failing there.
const MAX_CONCURRENT_SESSIONS: usize = 8;

/// A master that died between two commands is replaced within this time at most.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(30);

const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit statuses of coreutils `timeout` when it had to stop the command (TERM, then KILL).
const TIMEOUT_EXIT_STATUSES: [i32; 2] = [124, 137];

/// Upload budget: a fixed allowance plus a floor on the transfer rate.
const UPLOAD_BASE_TIMEOUT: Duration = Duration::from_secs(120);
const UPLOAD_MIN_BYTES_PER_SEC: u64 = 512 * 1024;

/// Learns in one round trip who we are on the host, whether sudo works without a password and
/// whether coreutils `timeout` is there to enforce command timeouts on the host side.
const PROBE_SCRIPT: &str = r#"u=$(id -u) || exit 90
echo "uid=$u"
if command -v timeout >/dev/null 2>&1; then echo timeout=yes; fi
if [ "$u" -ne 0 ]; then
  if sudo -n true; then echo sudo=ok; else echo sudo=refused; fi
fi"#;

/// A connected host: one ssh master shared by every command run on it.
pub struct Host {
    endpoint: Endpoint,
    name: String,
    defaults: Arc<SshDefaults>,
    opened: Arc<AtomicUsize>,
    host_key: HostKey,
    host_key_text: String,
    is_root: bool,
    has_remote_timeout: bool,
    session: Mutex<Arc<Session>>,
    reconnecting: tokio::sync::Mutex<()>,
    sessions: Semaphore,
    round_trips: AtomicUsize,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("host_key", &self.host_key_text)
            .field("is_root", &self.is_root)
            .finish_non_exhaustive()
    }
}

enum Feed<'a> {
    Nothing,
    Bytes(&'a [u8]),
    File { path: &'a Path, len: u64 },
}

struct Finished {
    /// `Err` carries why no exit status came back (connection lost, killed by a signal).
    status: Result<i32, String>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    fed: u64,
}

enum ExecFailure {
    /// The master was gone before the command started, so it is safe to reconnect and retry.
    MasterGone,
    CannotStart(String),
    Io(&'static str, std::io::Error),
    TimedOut,
}

impl Host {
    pub(crate) async fn establish(
        endpoint: Endpoint,
        pinned: Option<HostKey>,
        defaults: Arc<SshDefaults>,
        opened: Arc<AtomicUsize>,
        deadline: Instant,
    ) -> Result<Host, SshError> {
        let started = Instant::now();
        let name = endpoint.name();
        let spec = LaunchSpec {
            endpoint: &endpoint,
            name: &name,
            pinned: pinned.as_ref(),
            defaults: &defaults,
        };
        let master = master::establish(&spec, deadline).await?;
        opened.fetch_add(1, Ordering::SeqCst);
        let host_key = master.host_key;
        let session = Arc::new(Session::new_native_mux(master.dir));

        let probe = remote_command_line(
            PROBE_SCRIPT,
            Wrapping {
                via_sudo: false,
                remote_timeout_secs: None,
            },
        );
        let finished = match exec(&session, &probe, Feed::Nothing, PROBE_TIMEOUT).await {
            Ok(finished) => finished,
            Err(failure) => return Err(failure.into_error(&name, "probe", PROBE_TIMEOUT)),
        };
        let stdout = String::from_utf8_lossy(&finished.stdout);
        let stderr = String::from_utf8_lossy(&finished.stderr);
        let uid = stdout
            .lines()
            .find_map(|line| line.strip_prefix("uid="))
            .and_then(|uid| uid.trim().parse::<u32>().ok());
        let Some(uid) = uid else {
            return Err(SshError::Connect {
                host: name,
                detail: format!(
                    "logged in but could not run `id -u` through sh: {}",
                    tail_lines(&stderr, STDERR_TAIL_LINES)
                ),
            });
        };
        if stdout.lines().any(|line| line == "sudo=refused") {
            return Err(SshError::SudoNeedsPassword {
                host: name,
                user: endpoint.user.clone(),
                detail: tail_lines(&stderr, STDERR_TAIL_LINES),
            });
        }
        let host = Host {
            host_key_text: host_key.openssh(),
            host_key,
            is_root: uid == 0,
            has_remote_timeout: stdout.lines().any(|line| line == "timeout=yes"),
            session: Mutex::new(session),
            reconnecting: tokio::sync::Mutex::new(()),
            sessions: Semaphore::new(MAX_CONCURRENT_SESSIONS),
            round_trips: AtomicUsize::new(1),
            endpoint,
            name,
            defaults,
            opened,
        };
        info!(
            host = %host.name,
            host_key = %host.host_key.fingerprint(),
            root = host.is_root,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "{}: SSH connection established (host key {})",
            host.name,
            host.host_key.fingerprint()
        );
        Ok(host)
    }

    /// `user@address:port`, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key the host presented (or the pinned key it matched), as `<type> <base64>`.
    pub fn host_key(&self) -> &str {
        &self.host_key_text
    }

    pub fn is_root(&self) -> bool {
        self.is_root
    }

    /// Commands run on this host so far, including the one setup probe per connection.
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }

    /// The control socket of the current master (for diagnostics with `ssh -S <path> -O check`).
    pub fn control_socket(&self) -> PathBuf {
        self.current_session().control_socket().to_path_buf()
    }

    /// Runs `cmd`; a non-zero exit is returned in [`Output::status`], not as an error.
    pub async fn run(&self, cmd: &Command) -> Result<Output, SshError> {
        let feed = match cmd.stdin_bytes() {
            Some(bytes) => Feed::Bytes(bytes),
            None => Feed::Nothing,
        };
        self.execute(cmd, feed).await.map(|(output, _fed)| output)
    }

    /// Runs `cmd` and returns its stdout; a non-zero exit is [`SshError::CommandFailed`].
    pub async fn check(&self, cmd: &Command) -> Result<String, SshError> {
        let output = self.run(cmd).await?;
        self.require_success(cmd, &output)?;
        Ok(output.stdout)
    }

    /// Streams `local` to `remote` over the command's stdin and renames it into place, so the
    /// path holds either the old file or the complete new one. Returns the bytes sent.
    pub async fn upload(&self, local: &Path, remote: &str, mode: u32) -> Result<u64, SshError> {
        let len = tokio::fs::metadata(local)
            .await
            .map_err(|source| SshError::Io {
                host: self.name.clone(),
                action: format!("reading {} for upload", local.display()),
                source,
            })?
            .len();
        let timeout = UPLOAD_BASE_TIMEOUT + Duration::from_secs(len / UPLOAD_MIN_BYTES_PER_SEC);
        let cmd = Command::new(upload_script(remote, mode, len, &random_suffix()))
            .display(format!("upload {} to {remote}", local.display()))
            .timeout(timeout);
        let (output, fed) = self.execute(&cmd, Feed::File { path: local, len }).await?;
        self.require_success(&cmd, &output)?;
        Ok(fed)
    }

    fn require_success(&self, cmd: &Command, output: &Output) -> Result<(), SshError> {
        if output.success() {
            return Ok(());
        }
        Err(SshError::CommandFailed {
            host: self.name.clone(),
            command: cmd.display_text().to_string(),
            exit_code: output.status,
            stderr_tail: tail_lines(&output.stderr, STDERR_TAIL_LINES),
        })
    }

    /// Makes sure the master is alive, starting a new one (pinned to the same key) if it died.
    pub(crate) async fn ensure_alive(&self, deadline: Instant) -> Result<(), SshError> {
        let current = self.current_session();
        if current.check().await.is_ok() {
            return Ok(());
        }
        self.reestablish(&current, deadline).await
    }

    fn current_session(&self) -> Arc<Session> {
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    async fn reestablish(&self, stale: &Arc<Session>, deadline: Instant) -> Result<(), SshError> {
        let _one_at_a_time = self.reconnecting.lock().await;
        if !Arc::ptr_eq(&self.current_session(), stale) {
            return Ok(());
        }
        let spec = LaunchSpec {
            endpoint: &self.endpoint,
            name: &self.name,
            pinned: Some(&self.host_key),
            defaults: &self.defaults,
        };
        let master = master::establish(&spec, deadline).await?;
        self.opened.fetch_add(1, Ordering::SeqCst);
        info!(host = %self.name, "SSH connection re-established");
        let fresh = Arc::new(Session::new_native_mux(master.dir));
        *self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    async fn execute(&self, cmd: &Command, feed: Feed<'_>) -> Result<(Output, u64), SshError> {
        let _slot = self
            .sessions
            .acquire()
            .await
            .expect("the session semaphore is never closed");
        let timeout = cmd.timeout_duration();
        let wrapping = Wrapping {
            via_sudo: cmd.uses_sudo() && !self.is_root,
            remote_timeout_secs: self.has_remote_timeout.then(|| ceil_secs(timeout)),
        };
        let line = remote_command_line(cmd.script(), wrapping);
        // With a timer on the host, the local limit only guards against a silent network.
        let local_limit = if self.has_remote_timeout {
            timeout + Duration::from_secs(KILL_GRACE_SECS + 5)
        } else {
            timeout
        };

        self.round_trips.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let session = self.current_session();
        let mut attempt = exec(&session, &line, feed.reborrow(), local_limit).await;
        if matches!(attempt, Err(ExecFailure::MasterGone)) {
            let deadline = Instant::now() + RECONNECT_TIMEOUT.min(self.defaults.connect_timeout);
            self.reestablish(&session, deadline).await?;
            attempt = exec(&self.current_session(), &line, feed, local_limit).await;
        }
        let elapsed = started.elapsed();
        let finished = attempt
            .map_err(|failure| failure.into_error(&self.name, cmd.display_text(), timeout))?;

        let timed_out = |status: i32| {
            self.has_remote_timeout && elapsed >= timeout && TIMEOUT_EXIT_STATUSES.contains(&status)
        };
        let status = match finished.status {
            Ok(status) if timed_out(status) => {
                return Err(SshError::Timeout {
                    host: self.name.clone(),
                    command: cmd.display_text().to_string(),
                    after: timeout,
                })
            }
            Ok(status) => status,
            Err(_) if elapsed >= timeout => {
                return Err(SshError::Timeout {
                    host: self.name.clone(),
                    command: cmd.display_text().to_string(),
                    after: timeout,
                })
            }
            Err(why) => {
                return Err(SshError::Connect {
                    host: self.name.clone(),
                    detail: format!(
                        "`{}` ended without an exit status after {}: {why}",
                        cmd.display_text(),
                        human_duration(elapsed)
                    ),
                })
            }
        };
        let output = Output {
            status,
            stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        };
        debug!(
            host = %self.name,
            command = cmd.display_text(),
            status,
            elapsed_ms = elapsed.as_millis() as u64,
            "ran command"
        );
        if wrapping.via_sudo && status == 1 && sudo_wants_password(&output.stderr) {
            return Err(SshError::SudoNeedsPassword {
                host: self.name.clone(),
                user: self.endpoint.user.clone(),
                detail: tail_lines(&output.stderr, STDERR_TAIL_LINES),
            });
        }
        Ok((output, finished.fed))
    }
}

impl Feed<'_> {
    fn reborrow(&self) -> Feed<'_> {
        match self {
            Feed::Nothing => Feed::Nothing,
            Feed::Bytes(bytes) => Feed::Bytes(bytes),
            Feed::File { path, len } => Feed::File { path, len: *len },
        }
    }
}

impl ExecFailure {
    fn into_error(self, host: &str, display: &str, timeout: Duration) -> SshError {
        match self {
            ExecFailure::MasterGone => SshError::Connect {
                host: host.to_string(),
                detail: "the SSH connection was lost".to_string(),
            },
            ExecFailure::CannotStart(why) => SshError::Connect {
                host: host.to_string(),
                detail: format!("could not start `{display}`: {why}"),
            },
            ExecFailure::Io(action, source) => SshError::Io {
                host: host.to_string(),
                action: action.to_string(),
                source,
            },
            ExecFailure::TimedOut => SshError::Timeout {
                host: host.to_string(),
                command: display.to_string(),
                after: timeout,
            },
        }
    }
}

/// Runs one command line on the master and collects everything it says. Dropping the child on
/// timeout closes its channel; the remote `timeout` wrapper has already killed the process group.
async fn exec(
    session: &Session,
    line: &str,
    feed: Feed<'_>,
    limit: Duration,
) -> Result<Finished, ExecFailure> {
    let stdin = match feed {
        Feed::Nothing => Stdio::null(),
        _ => Stdio::piped(),
    };
    let spawned = session
        .raw_command(line)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .await;
    let mut child = match spawned {
        Ok(child) => child,
        Err(openssh::Error::Disconnected) => return Err(ExecFailure::MasterGone),
        // A master ending (e.g. idle past ControlPersist) while the session opens looks like
        // any refusal; the command did not start either way.
        Err(_) if session.check().await.is_err() => return Err(ExecFailure::MasterGone),
        Err(err) => return Err(ExecFailure::CannotStart(describe_openssh_error(&err))),
    };
    let input = child.stdin().take();
    let stdout = child.stdout().take();
    let stderr = child.stderr().take();

    let work = async move {
        let feeding = async move {
            let Some(mut input) = input else {
                return Ok(0);
            };
            // A command that exits without reading all of its input breaks the pipe; its exit
            // status tells what happened, so write errors are not reported on their own.
            let fed = match feed {
                Feed::Nothing => 0,
                Feed::Bytes(bytes) => match input.write_all(bytes).await {
                    Ok(()) => bytes.len() as u64,
                    Err(_) => 0,
                },
                Feed::File { path, len } => {
                    let file = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| ExecFailure::Io("opening the file to upload", e))?;
                    tokio::io::copy(&mut file.take(len), &mut input)
                        .await
                        .unwrap_or(0)
                }
            };
            let _ = input.shutdown().await;
            drop(input);
            Ok::<u64, ExecFailure>(fed)
        };
        let (fed, out, err) = tokio::join!(feeding, read_all(stdout), read_all(stderr));
        let fed = fed?;
        let status = match child.wait().await {
            Ok(status) => status
                .code()
                .ok_or_else(|| "the remote process was killed by a signal".to_string()),
            // The native mux client reports exit status 127 as "command not found"; for a
            // script that is just an exit status, and its stderr says what was missing.
            Err(openssh::Error::Remote(err)) if err.kind() == std::io::ErrorKind::NotFound => {
                Ok(127)
            }
            Err(err) => Err(describe_openssh_error(&err)),
        };
        Ok(Finished {
            status,
            stdout: out,
            stderr: err,
            fed,
        })
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| ExecFailure::TimedOut)?
}

async fn read_all(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut buffer = Vec::new();
    if let Some(mut stream) = stream {
        let _ = stream.read_to_end(&mut buffer).await;
    }
    buffer
}

fn describe_openssh_error(err: &openssh::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn random_suffix() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())
}

/// Receives exactly `len` bytes into a private temporary file next to `remote`, then renames it
/// over `remote` so readers never see a partial file.
fn upload_script(remote: &str, mode: u32, len: u64, suffix: &str) -> String {
    let remote = shell_quote(remote);
    format!(
        r#"set -eu
dst={remote}
tmp="$dst.tmp.{suffix}"
trap 'rm -f "$tmp"' EXIT
mkdir -p "$(dirname "$dst")"
umask 077
cat > "$tmp"
size=$(wc -c < "$tmp")
if [ "$size" -ne {len} ]; then echo "received $size of {len} bytes" >&2; exit 1; fi
chmod {mode:o} "$tmp"
mv -f "$tmp" "$dst""#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_script_renames_a_checked_temporary_file() {
        let script = upload_script("/usr/local/bin/k0s", 0o755, 42, "abc");
        assert!(script.contains("dst=/usr/local/bin/k0s\n"), "{script}");
        assert!(script.contains(r#"tmp="$dst.tmp.abc""#), "{script}");
        assert!(script.contains(r#"[ "$size" -ne 42 ]"#), "{script}");
        assert!(script.contains(r#"chmod 755 "$tmp""#), "{script}");
        assert!(script.ends_with(r#"mv -f "$tmp" "$dst""#), "{script}");
    }

    #[test]
    fn suffixes_differ() {
        assert_ne!(random_suffix(), random_suffix());
    }
}
