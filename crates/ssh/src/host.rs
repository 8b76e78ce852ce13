use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssh::{Session, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tracing::{debug, info};

use crate::command::{
    ceil_secs, remote_command_line, shell_quote, sudo_wants_password, tail_lines, Stdin, Wrapping,
    KILL_GRACE_SECS,
};
use crate::host_key::HostKey;
use crate::master::{self, Endpoint, LaunchSpec, Master};
use crate::persist::Persistence;
use crate::{
    human_duration, Command, Output, SshDefaults, SshError, StreamedOutput, STDERR_TAIL_LINES,
};

/// sshd allows 10 sessions per connection by default (MaxSessions); staying below it keeps
/// concurrent commands on one host queueing here instead of failing there.
const MAX_CONCURRENT_SESSIONS: usize = 8;

/// A master that died between two commands is replaced within this time at most.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(30);

const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// A master left by an earlier process must run a command this fast, or it is replaced: its
/// connection may have died without the master noticing yet.
const REUSED_MASTER_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Chunk size for streaming a local file into stdin and stdout into a local writer.
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

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

/// What a pool counts for its callers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Masters started, i.e. SSH logins.
    pub(crate) opened: AtomicUsize,
    /// Masters found running and used without a login.
    pub(crate) reused: AtomicUsize,
}

/// A connected host: one ssh master shared by every command run on it.
pub struct Host {
    endpoint: Endpoint,
    name: String,
    defaults: Arc<SshDefaults>,
    /// Set when this host's masters persist: persistence is on and its key was pinned by the
    /// caller (a host trusted on first use never shares a master).
    persistence: Option<Arc<Persistence>>,
    counters: Arc<Counters>,
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

/// What a command reads on stdin.
enum Feed<'a> {
    Nothing,
    Bytes(&'a [u8]),
    /// A local file, streamed; at most `len` bytes of it when set.
    File {
        path: &'a Path,
        len: Option<u64>,
    },
}

/// Where a command's stdout goes.
enum StdoutTo<'a> {
    Memory,
    Writer(&'a mut (dyn AsyncWrite + Unpin + Send)),
}

struct Finished {
    /// `Err` carries why no exit status came back (connection lost, killed by a signal).
    status: Result<i32, String>,
    /// Empty when stdout went to a writer.
    stdout: Vec<u8>,
    stdout_bytes: u64,
    stderr: Vec<u8>,
    fed: u64,
}

/// A command that ran to its end, as [`Host::execute`] reports it.
struct Ran {
    status: i32,
    stdout: Vec<u8>,
    stdout_bytes: u64,
    stderr: String,
    fed: u64,
}

enum ExecFailure {
    /// The master was gone before the command started, so it is safe to reconnect and retry.
    MasterGone,
    CannotStart(String),
    /// The local file for stdin could not be opened; the command was not started.
    StdinOpen(PathBuf, std::io::Error),
    StdinRead(PathBuf, std::io::Error),
    StdoutWrite(std::io::Error),
    TimedOut,
}

impl Host {
    pub(crate) async fn establish(
        endpoint: Endpoint,
        pinned: Option<HostKey>,
        defaults: Arc<SshDefaults>,
        persistence: Option<Arc<Persistence>>,
        counters: Arc<Counters>,
        deadline: Instant,
        retry_refused_login: bool,
    ) -> Result<Host, SshError> {
        let started = Instant::now();
        let name = endpoint.name();
        let persistence = persistence.filter(|_| pinned.is_some());
        let spec = LaunchSpec {
            endpoint: &endpoint,
            name: &name,
            pinned: pinned.as_ref(),
            defaults: &defaults,
            persistence: persistence.as_deref(),
            retry_refused_login,
        };
        let probe = remote_command_line(
            PROBE_SCRIPT,
            Wrapping {
                via_sudo: false,
                remote_timeout_secs: None,
            },
        );
        let (master, finished) = answering_master(&spec, deadline, Some(&probe), &counters).await?;
        let reused = master.reused;
        let host_key = master.host_key.clone();
        let session = Arc::new(master.into_session());
        let finished = finished.expect("the probe ran");
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
            persistence,
            counters,
        };
        info!(
            host = %host.name,
            host_key = %host.host_key.fingerprint(),
            root = host.is_root,
            reused,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "{}: SSH connection {} (host key {})",
            host.name,
            if reused { "reused" } else { "established" },
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
        let ran = self.execute(cmd, feed_of(cmd), StdoutTo::Memory).await?;
        Ok(Output {
            status: ran.status,
            stdout: String::from_utf8_lossy(&ran.stdout).into_owned(),
            stderr: ran.stderr,
        })
    }

    /// Runs `cmd` and returns its stdout; a non-zero exit is [`SshError::CommandFailed`].
    pub async fn check(&self, cmd: &Command) -> Result<String, SshError> {
        let output = self.run(cmd).await?;
        self.require_success(cmd, output.status, &output.stderr)?;
        Ok(output.stdout)
    }

    /// Runs `cmd` with its stdout, raw bytes, written to `stdout` as they arrive (and flushed at
    /// the end) instead of collected in memory: for archives such as `k0s backup --save-path -`.
    /// Stderr is collected as usual. A non-zero exit is returned in [`StreamedOutput::status`],
    /// not as an error; a failing `stdout` is [`SshError::Io`] and stops the command. Bytes
    /// already written stay written whatever the outcome: write to a temporary file and keep it
    /// only on success.
    pub async fn run_stdout_to<W>(
        &self,
        cmd: &Command,
        stdout: &mut W,
    ) -> Result<StreamedOutput, SshError>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let ran = self
            .execute(cmd, feed_of(cmd), StdoutTo::Writer(stdout))
            .await?;
        Ok(StreamedOutput {
            status: ran.status,
            stdout_bytes: ran.stdout_bytes,
            stderr: ran.stderr,
        })
    }

    /// [`run_stdout_to`](Host::run_stdout_to), with a non-zero exit as
    /// [`SshError::CommandFailed`]; returns the bytes written to `stdout`.
    pub async fn check_stdout_to<W>(&self, cmd: &Command, stdout: &mut W) -> Result<u64, SshError>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let output = self.run_stdout_to(cmd, stdout).await?;
        self.require_success(cmd, output.status, &output.stderr)?;
        Ok(output.stdout_bytes)
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
        let feed = Feed::File {
            path: local,
            len: Some(len),
        };
        let ran = self.execute(&cmd, feed, StdoutTo::Memory).await?;
        self.require_success(&cmd, ran.status, &ran.stderr)?;
        Ok(ran.fed)
    }

    fn require_success(&self, cmd: &Command, status: i32, stderr: &str) -> Result<(), SshError> {
        if status == 0 {
            return Ok(());
        }
        Err(SshError::CommandFailed {
            host: self.name.clone(),
            command: cmd.display_text().to_string(),
            exit_code: status,
            stderr_tail: tail_lines(stderr, STDERR_TAIL_LINES),
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
            persistence: self.persistence.as_deref(),
            // The host let us in before: a refusal now is not a machine still being set up.
            retry_refused_login: false,
        };
        let (master, _) = answering_master(&spec, deadline, None, &self.counters).await?;
        info!(host = %self.name, "SSH connection re-established");
        let fresh = Arc::new(master.into_session());
        *self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    async fn execute(
        &self,
        cmd: &Command,
        feed: Feed<'_>,
        mut stdout_to: StdoutTo<'_>,
    ) -> Result<Ran, SshError> {
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
        let mut attempt = exec(
            &session,
            &line,
            feed.reborrow(),
            stdout_to.reborrow(),
            local_limit,
        )
        .await;
        if matches!(attempt, Err(ExecFailure::MasterGone)) {
            // Nothing was read from stdin or written to stdout yet: the command never started.
            let deadline = Instant::now() + RECONNECT_TIMEOUT.min(self.defaults.connect_timeout);
            self.reestablish(&session, deadline).await?;
            attempt = exec(&self.current_session(), &line, feed, stdout_to, local_limit).await;
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
        let stderr = String::from_utf8_lossy(&finished.stderr).into_owned();
        debug!(
            host = %self.name,
            command = cmd.display_text(),
            status,
            elapsed_ms = elapsed.as_millis() as u64,
            "ran command"
        );
        if wrapping.via_sudo && status == 1 && sudo_wants_password(&stderr) {
            return Err(SshError::SudoNeedsPassword {
                host: self.name.clone(),
                user: self.endpoint.user.clone(),
                detail: tail_lines(&stderr, STDERR_TAIL_LINES),
            });
        }
        Ok(Ran {
            status,
            stdout: finished.stdout,
            stdout_bytes: finished.stdout_bytes,
            stderr,
            fed: finished.fed,
        })
    }
}

/// A master that has run `line` (the probe), or, when `line` is `None`, a fresh master or a reused
/// one that has run a no-op. A reused master that does not answer is retired and replaced once.
async fn answering_master(
    spec: &LaunchSpec<'_>,
    deadline: Instant,
    line: Option<&str>,
    counters: &Counters,
) -> Result<(Master, Option<Finished>), SshError> {
    let mut replaced_one = false;
    loop {
        let mut master = master::establish(spec, deadline).await?;
        if !master.reused {
            counters.opened.fetch_add(1, Ordering::SeqCst);
        }
        let line = match line {
            Some(line) => line,
            None if master.reused => "true",
            None => {
                master.release_lock();
                return Ok((master, None));
            }
        };
        let limit = if master.reused {
            REUSED_MASTER_ANSWER_TIMEOUT
        } else {
            PROBE_TIMEOUT
        };
        let answer = exec(
            &master.session,
            line,
            Feed::Nothing,
            StdoutTo::Memory,
            limit,
        )
        .await;
        match answer {
            Ok(finished) => {
                if master.reused {
                    counters.reused.fetch_add(1, Ordering::SeqCst);
                }
                master.release_lock();
                return Ok((master, Some(finished)));
            }
            Err(_) if master.reused && !replaced_one => {
                info!(
                    host = spec.name,
                    "a persisted SSH connection did not answer; replacing it"
                );
                master.discard().await;
                replaced_one = true;
            }
            Err(failure) => return Err(failure.into_error(spec.name, "probe", limit)),
        }
    }
}

fn feed_of(cmd: &Command) -> Feed<'_> {
    match cmd.stdin_source() {
        Stdin::Nothing => Feed::Nothing,
        Stdin::Bytes(bytes) => Feed::Bytes(bytes),
        Stdin::File(path) => Feed::File { path, len: None },
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

impl StdoutTo<'_> {
    fn reborrow(&mut self) -> StdoutTo<'_> {
        match self {
            StdoutTo::Memory => StdoutTo::Memory,
            StdoutTo::Writer(writer) => StdoutTo::Writer(&mut **writer),
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
            ExecFailure::StdinOpen(path, source) => SshError::Io {
                host: host.to_string(),
                action: format!("opening {} as the input of `{display}`", path.display()),
                source,
            },
            ExecFailure::StdinRead(path, source) => SshError::Io {
                host: host.to_string(),
                action: format!("reading {} as the input of `{display}`", path.display()),
                source,
            },
            ExecFailure::StdoutWrite(source) => SshError::Io {
                host: host.to_string(),
                action: format!("writing the output of `{display}` locally"),
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

/// Runs one command line on the master and collects everything it says (or streams its stdout to
/// a writer). Dropping the child on timeout closes its channel; the remote `timeout` wrapper has
/// already killed the process group.
async fn exec(
    session: &Session,
    line: &str,
    feed: Feed<'_>,
    stdout_to: StdoutTo<'_>,
    limit: Duration,
) -> Result<Finished, ExecFailure> {
    // Opened before the command starts, so that a missing file runs nothing.
    let source = match feed {
        Feed::Nothing => Source::Nothing,
        Feed::Bytes(bytes) => Source::Bytes(bytes),
        Feed::File { path, len } => Source::File {
            file: tokio::fs::File::open(path)
                .await
                .map_err(|e| ExecFailure::StdinOpen(path.to_path_buf(), e))?,
            path,
            len,
        },
    };
    let stdin = match source {
        Source::Nothing => Stdio::null(),
        _ => Stdio::piped(),
    };
    // Opening the session waits for the host too, so it counts against the limit.
    let started = Instant::now();
    let spawned = tokio::time::timeout(
        limit,
        session
            .raw_command(line)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn(),
    )
    .await
    .map_err(|_| ExecFailure::TimedOut)?;
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
            let fed = match source {
                Source::Nothing => 0,
                Source::Bytes(bytes) => match input.write_all(bytes).await {
                    Ok(()) => bytes.len() as u64,
                    Err(_) => 0,
                },
                Source::File { file, path, len } => feed_file(file, path, len, &mut input).await?,
            };
            let _ = input.shutdown().await;
            drop(input);
            Ok::<u64, ExecFailure>(fed)
        };
        let collecting = async move {
            match stdout_to {
                StdoutTo::Memory => Ok((read_all(stdout).await, 0)),
                StdoutTo::Writer(writer) => {
                    let copied = copy_to_writer(stdout, writer).await?;
                    Ok::<_, ExecFailure>((Vec::new(), copied))
                }
            }
        };
        let (fed, (out, stdout_bytes), err) =
            tokio::try_join!(feeding, collecting, async { Ok(read_all(stderr).await) })?;
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
            stdout_bytes,
            stderr: err,
            fed,
        })
    };
    tokio::time::timeout(limit.saturating_sub(started.elapsed()), work)
        .await
        .map_err(|_| ExecFailure::TimedOut)?
}

/// A [`Feed`] ready to be sent.
enum Source<'a> {
    Nothing,
    Bytes(&'a [u8]),
    File {
        file: tokio::fs::File,
        path: &'a Path,
        len: Option<u64>,
    },
}

/// Sends the file (at most `len` bytes of it) chunk by chunk; stops early, without error, when
/// the command stops reading.
async fn feed_file(
    mut file: tokio::fs::File,
    path: &Path,
    len: Option<u64>,
    input: &mut (impl AsyncWrite + Unpin),
) -> Result<u64, ExecFailure> {
    let mut chunk = vec![0u8; STREAM_CHUNK_BYTES];
    let mut fed = 0u64;
    loop {
        let want = match len {
            Some(len) => (len - fed).min(chunk.len() as u64) as usize,
            None => chunk.len(),
        };
        if want == 0 {
            break;
        }
        let read = file
            .read(&mut chunk[..want])
            .await
            .map_err(|e| ExecFailure::StdinRead(path.to_path_buf(), e))?;
        if read == 0 || input.write_all(&chunk[..read]).await.is_err() {
            break;
        }
        fed += read as u64;
    }
    Ok(fed)
}

/// Writes the stream to `writer` as it arrives; the stream ending (or breaking, which the exit
/// status then tells) ends the copy, a failing writer fails it.
async fn copy_to_writer(
    stream: Option<impl AsyncRead + Unpin>,
    writer: &mut (dyn AsyncWrite + Unpin + Send),
) -> Result<u64, ExecFailure> {
    let Some(mut stream) = stream else {
        return Ok(0);
    };
    let mut chunk = vec![0u8; STREAM_CHUNK_BYTES];
    let mut copied = 0u64;
    loop {
        let read = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        writer
            .write_all(&chunk[..read])
            .await
            .map_err(ExecFailure::StdoutWrite)?;
        copied += read as u64;
    }
    writer.flush().await.map_err(ExecFailure::StdoutWrite)?;
    Ok(copied)
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
