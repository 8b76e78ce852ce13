//! Starting one OpenSSH ControlMaster: generated ssh_config, per-host known_hosts, key files that
//! exist only while ssh authenticates, and a reading of ssh's complaints when it refuses; or
//! finding one a previous process left running (see [`crate::persist`]).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use openssh::Session;
use tracing::{debug, info};

use crate::command::ceil_secs;
use crate::host_key::{
    first_known_host_key, keys_in_keyscan_output, presented_fingerprint_in_ssh_log, HostKey,
    TOFU_HOST_KEY_ALGORITHMS,
};
use crate::persist::{MasterIdentity, Persistence, Slot, SlotLock};
use crate::{human_duration, Bastion, Secret, SshDefaults, SshError, Unanswered};

const TARGET_ALIAS: &str = "mke-target";
const BASTION_ALIAS: &str = "mke-bastion";

/// A master that does not persist, idle this long, exits by itself, so that a provider killed
/// before it could close its masters leaves none behind for long; the pool re-establishes one
/// when needed.
pub(crate) const CONTROL_PERSIST_SECS: u64 = 120;

/// A master left by another process must answer the alive check this fast.
const ALIVE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One attempt waits at most this long for the TCP connection and ssh banner; the overall
/// deadline is made of several attempts.
const MAX_ATTEMPT_CONNECT_TIMEOUT_SECS: u64 = 15;

const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(250);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Pauses between refused logins, when those are retried: a fresh machine's authorized_keys
/// arrives within seconds to minutes, and each refusal costs the host a login attempt.
const FIRST_LOGIN_RETRY_PAUSE: Duration = Duration::from_secs(1);
const MAX_LOGIN_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// Where and as whom to log in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Endpoint {
    pub(crate) user: String,
    pub(crate) address: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// `user@address:port`, the name every message uses.
    pub(crate) fn name(&self) -> String {
        if self.address.contains(':') {
            format!("{}@[{}]:{}", self.user, self.address, self.port)
        } else {
            format!("{}@{}:{}", self.user, self.address, self.port)
        }
    }
}

/// Refuses values that would break out of the generated ssh_config or be taken for an option.
pub(crate) fn check_config_value(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.starts_with('-') {
        return Err(format!("{what} {value:?} starts with '-'"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '%' | '\\'))
    {
        return Err(format!("{what} {value:?} contains {bad:?}"));
    }
    Ok(())
}

pub(crate) struct LaunchSpec<'a> {
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) name: &'a str,
    /// The key the host must present; `None` trusts on first use.
    pub(crate) pinned: Option<&'a HostKey>,
    pub(crate) defaults: &'a SshDefaults,
    /// Set when masters outlive the process; only pinned hosts get such a master.
    pub(crate) persistence: Option<&'a Persistence>,
    /// Retry a refused login until the deadline instead of failing at once.
    pub(crate) retry_refused_login: bool,
}

/// A running master and the session that talks to it.
///
/// Without persistence the session owns a temporary directory holding the control socket
/// (`master`), log and config, and ends the master when dropped. A persistent master lives in
/// its slot of the control directory; dropping the session leaves it running until it has been
/// idle for [`Persistence::persist`].
pub(crate) struct Master {
    pub(crate) session: Session,
    pub(crate) host_key: HostKey,
    /// Found running (started by an earlier process, or an earlier pool), not started here.
    pub(crate) reused: bool,
    persistent: Option<(Slot, SlotLock)>,
}

impl Master {
    pub(crate) fn into_session(self) -> Session {
        self.session
    }

    /// Lets other processes at the slot, once the master proved to work.
    pub(crate) fn release_lock(&mut self) {
        if let Some((slot, lock)) = self.persistent.take() {
            drop(lock);
            debug!(slot = %slot.dir.display(), "released the master's slot");
        }
    }

    /// Ends a master that does not serve (a persisted one that stopped answering) and clears its
    /// slot.
    pub(crate) async fn discard(self) {
        let Master {
            session,
            persistent,
            ..
        } = self;
        let _ = tokio::time::timeout(ALIVE_CHECK_TIMEOUT, session.close()).await;
        if let Some((slot, _lock)) = persistent {
            let _ = slot.remove();
        }
    }
}

/// Starts a master, or with persistence reuses the one an earlier process left for the same
/// identity; retries unanswered connection attempts with backoff until `deadline`.
pub(crate) async fn establish(
    spec: &LaunchSpec<'_>,
    deadline: Instant,
) -> Result<Master, SshError> {
    let (Some(persistence), Some(pinned)) = (spec.persistence, spec.pinned) else {
        let (dir, host_key) =
            launch_with_retries(spec, deadline, CONTROL_PERSIST_SECS, temporary_dir).await?;
        return Ok(Master {
            session: Session::new_native_mux(dir),
            host_key,
            reused: false,
            persistent: None,
        });
    };
    let slot = persistence.dir.slot(&identity(spec, pinned));
    let io_failure = |action: &str, source: std::io::Error| SshError::Io {
        host: spec.name.to_string(),
        action: action.to_string(),
        source,
    };
    let lock = slot
        .lock(deadline)
        .await
        .map_err(|e| io_failure(&format!("locking {}", persistence.dir.path().display()), e))?;
    if let Some(session) = running_master(&slot, pinned).await {
        debug!(host = spec.name, slot = %slot.dir.display(), "reusing a persisted SSH master");
        return Ok(Master {
            session,
            host_key: pinned.clone(),
            reused: true,
            persistent: Some((slot, lock)),
        });
    }
    retire(&slot).await;
    let persist_secs = ceil_secs(persistence.persist);
    let (dir, host_key) = launch_with_retries(spec, deadline, persist_secs, || slot.reset())
        .await
        .inspect_err(|_| {
            let _ = slot.remove();
        })?;
    info!(
        host = spec.name,
        persist_secs,
        "the SSH connection persists in {}",
        dir.display()
    );
    Ok(Master {
        session: Session::resume_mux(
            slot.socket().into_boxed_path(),
            Some(slot.log().into_boxed_path()),
        ),
        host_key,
        reused: false,
        persistent: Some((slot, lock)),
    })
}

fn temporary_dir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    // Private to the user: the config, known_hosts and control socket inside
    // say which hosts this run reaches and how.
    tempfile::Builder::new()
        .prefix("mke-ssh-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir()
}

fn identity<'a>(spec: &LaunchSpec<'a>, pinned: &'a HostKey) -> MasterIdentity<'a> {
    let defaults = spec.defaults;
    MasterIdentity {
        user: &spec.endpoint.user,
        address: &spec.endpoint.address,
        port: spec.endpoint.port,
        pinned,
        bastion: defaults
            .bastion
            .as_ref()
            .map(|b| (bastion_name(b), b.host_key.as_deref())),
        private_keys: [
            defaults.private_key.as_ref().map(Secret::expose),
            defaults
                .bastion
                .as_ref()
                .and_then(|b| b.private_key.as_ref())
                .map(Secret::expose),
        ],
    }
}

/// The master in `slot`, if one runs there, checked the host against `pinned` and answers.
async fn running_master(slot: &Slot, pinned: &HostKey) -> Option<Session> {
    if !slot.socket().exists() {
        return None;
    }
    match slot.pinned_key() {
        Some(recorded) if &recorded == pinned => {}
        recorded => {
            info!(
                slot = %slot.dir.display(),
                expected = %pinned.fingerprint(),
                recorded = ?recorded.map(|key| key.fingerprint()),
                "a persisted SSH master checked another host key; replacing it"
            );
            return None;
        }
    }
    let session = Session::resume_mux(
        slot.socket().into_boxed_path(),
        Some(slot.log().into_boxed_path()),
    );
    match tokio::time::timeout(ALIVE_CHECK_TIMEOUT, session.check()).await {
        Ok(Ok(())) => Some(session),
        _ => {
            debug!(slot = %slot.dir.display(), "a persisted SSH master is gone; replacing it");
            None
        }
    }
}

/// Asks a master still listening in `slot` to exit and clears the slot.
async fn retire(slot: &Slot) {
    if slot.socket().exists() {
        let stale = Session::resume_mux(slot.socket().into_boxed_path(), None);
        let _ = tokio::time::timeout(ALIVE_CHECK_TIMEOUT, stale.close()).await;
    }
    let _ = slot.remove();
}

/// What a failed attempt that may succeed later ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Snag {
    /// Nothing answered at the target's address.
    Unanswered(Unanswered),
    /// The target refused the TCP connection.
    Refused,
    /// The bastion could not be reached or closed the connection.
    Bastion,
    /// Reset, closed during the handshake, a name that did not resolve (yet).
    Other,
}

/// A failed attempt that may succeed later: what it ran into and what ssh said.
struct Problem {
    snag: Snag,
    detail: String,
}

enum AttemptFailure {
    /// Nobody answered (yet): refused, unreachable, timed out, closed during the handshake.
    Retry(Problem),
    /// The host refused the login; retried only when the caller asked for it.
    LoginRefused(SshError),
    Fatal(SshError),
}

/// Runs [`launch_once`] in a fresh directory from `fresh_dir` per attempt until an attempt
/// succeeds, fails for good, or `deadline` passes.
async fn launch_with_retries<D: AsRef<Path>>(
    spec: &LaunchSpec<'_>,
    deadline: Instant,
    control_persist_secs: u64,
    mut fresh_dir: impl FnMut() -> std::io::Result<D>,
) -> Result<(D, HostKey), SshError> {
    let started = Instant::now();
    let mut pause = FIRST_RETRY_PAUSE;
    let mut login_pause = FIRST_LOGIN_RETRY_PAUSE;
    let mut attempts = 0u32;
    let mut last: Option<Problem> = None;
    let mut refused_login: Option<SshError> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(gave_up(spec, started, attempts, last, refused_login));
        }
        attempts += 1;
        let dir = fresh_dir().map_err(|source| SshError::Io {
            host: spec.name.to_string(),
            action: "creating a directory for the SSH control socket".to_string(),
            source,
        })?;
        let attempt_connect_timeout =
            ceil_secs(remaining).clamp(1, MAX_ATTEMPT_CONNECT_TIMEOUT_SECS);
        let attempt = launch_once(
            spec,
            dir.as_ref(),
            control_persist_secs,
            attempt_connect_timeout,
        );
        let wait = match tokio::time::timeout(remaining, attempt).await {
            Err(_elapsed) => {
                // Cut at the deadline: what it was waiting for did not come in time.
                let last = last.or(Some(Problem {
                    snag: Snag::Unanswered(Unanswered::Timeout),
                    detail: format!("no answer within {}", human_duration(remaining)),
                }));
                return Err(gave_up(spec, started, attempts, last, refused_login));
            }
            Ok(Ok(host_key)) => return Ok((dir, host_key)),
            Ok(Err(AttemptFailure::Fatal(err))) => return Err(err),
            Ok(Err(AttemptFailure::LoginRefused(err))) if !spec.retry_refused_login => {
                return Err(err)
            }
            Ok(Err(AttemptFailure::LoginRefused(err))) => {
                let wait = login_pause;
                info!(
                    host = spec.name,
                    attempt = attempts,
                    reason = %err,
                    "{}: the login was refused; retrying in {} (a new machine may get its \
                     authorized keys late)",
                    spec.name,
                    human_duration(wait)
                );
                refused_login = Some(err);
                last = None;
                login_pause = (login_pause * 2).min(MAX_LOGIN_RETRY_PAUSE);
                wait
            }
            Ok(Err(AttemptFailure::Retry(problem))) => {
                debug!(
                    host = spec.name,
                    attempt = attempts,
                    problem = %problem.detail,
                    "SSH not answering yet"
                );
                last = Some(problem);
                refused_login = None;
                let wait = pause;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
                wait
            }
        };
        tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// The error for a connection that did not come about by the deadline, typed by what the last
/// attempt ran into.
fn gave_up(
    spec: &LaunchSpec<'_>,
    started: Instant,
    attempts: u32,
    last: Option<Problem>,
    refused_login: Option<SshError>,
) -> SshError {
    let elapsed = started.elapsed();
    if let Some(SshError::LoginRefused {
        host,
        user,
        ssh_said,
        ..
    }) = refused_login
    {
        return SshError::LoginRefused {
            host,
            user,
            ssh_said,
            retried_for: Some(elapsed),
        };
    }
    let (snag, last) = match last {
        Some(problem) => (problem.snag, problem.detail),
        None => (Snag::Other, "no attempt finished".to_string()),
    };
    let host = spec.name.to_string();
    let detail = format!(
        "no SSH connection within {} ({attempts} attempt{}); last error: {last}",
        human_duration(elapsed),
        if attempts == 1 { "" } else { "s" },
    );
    match (snag, &spec.defaults.bastion) {
        (Snag::Unanswered(why), _) => SshError::Unreachable { host, why, detail },
        (Snag::Refused, _) => SshError::ConnectionRefused { host, detail },
        (Snag::Bastion, Some(bastion)) => SshError::BastionConnect {
            host,
            bastion: bastion_name(bastion),
            detail,
        },
        (Snag::Bastion | Snag::Other, _) => SshError::Connect { host, detail },
    }
}

/// Files holding private keys, removed as soon as ssh has authenticated (or failed to): a
/// provider killed later leaves no key on disk.
struct KeyFiles(Vec<PathBuf>);

impl KeyFiles {
    fn write(&mut self, path: PathBuf, key: &Secret) -> std::io::Result<PathBuf> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        self.0.push(path.clone());
        let text = key.expose().trim_end();
        // ssh rejects a key file whose last line lacks its newline.
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        Ok(path)
    }
}

impl Drop for KeyFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

struct LaunchFiles {
    config: PathBuf,
    known_hosts: PathBuf,
    log: PathBuf,
    proxy_log: PathBuf,
    socket: PathBuf,
}

/// Starts `ssh -M` with its control socket, config, known_hosts and logs in `dir`; returns the
/// key the host presented once ssh has authenticated and gone to the background.
async fn launch_once(
    spec: &LaunchSpec<'_>,
    dir: &Path,
    control_persist_secs: u64,
    connect_timeout_secs: u64,
) -> Result<HostKey, AttemptFailure> {
    let io_failure = |action: &str, source: std::io::Error| {
        AttemptFailure::Fatal(SshError::Io {
            host: spec.name.to_string(),
            action: action.to_string(),
            source,
        })
    };
    let files = LaunchFiles {
        config: dir.join("config"),
        known_hosts: dir.join("known_hosts"),
        log: dir.join("log"),
        proxy_log: dir.join("proxy-log"),
        socket: dir.join(crate::persist::SOCKET_NAME),
    };
    let mut key_files = KeyFiles(Vec::new());
    write_launch_files(
        spec,
        dir,
        &files,
        &mut key_files,
        connect_timeout_secs,
        control_persist_secs,
    )
    .map_err(|e| io_failure("writing the ssh configuration", e))?;

    let status = tokio::process::Command::new("ssh")
        .arg("-F")
        .arg(&files.config)
        .arg("-E")
        .arg(&files.log)
        .arg("-S")
        .arg(&files.socket)
        .args(["-M", "-f", "-N", TARGET_ALIAS])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| io_failure("running the local ssh client", e))?;
    drop(key_files);

    let log = fs::read_to_string(&files.log).unwrap_or_default();
    let proxy_log = fs::read_to_string(&files.proxy_log).unwrap_or_default();
    if !status.success() {
        return Err(classify_failure(spec, &log, &proxy_log).await);
    }
    let recorded = fs::read_to_string(&files.known_hosts).unwrap_or_default();
    let host_key = first_known_host_key(&recorded).ok_or_else(|| {
        AttemptFailure::Fatal(SshError::Connect {
            host: spec.name.to_string(),
            detail: "ssh connected but recorded no host key".to_string(),
        })
    })?;
    if let Some(pinned) = spec.pinned {
        if pinned != &host_key {
            return Err(AttemptFailure::Fatal(SshError::HostKeyChanged {
                host: spec.name.to_string(),
                expected_fingerprint: pinned.fingerprint(),
                presented_fingerprint: host_key.fingerprint(),
            }));
        }
    }
    Ok(host_key)
}

fn write_launch_files(
    spec: &LaunchSpec<'_>,
    dir: &Path,
    files: &LaunchFiles,
    key_files: &mut KeyFiles,
    connect_timeout_secs: u64,
    control_persist_secs: u64,
) -> std::io::Result<()> {
    let endpoint = spec.endpoint;
    let mut known_hosts = String::new();
    if let Some(pinned) = spec.pinned {
        known_hosts.push_str(&pinned.known_hosts_line(&endpoint.address, endpoint.port));
    }
    fs::write(&files.known_hosts, known_hosts)?;

    let common = format!(
        "  BatchMode yes\n  ConnectTimeout {connect_timeout_secs}\n  ServerAliveInterval 15\n  \
         ServerAliveCountMax 4\n  HashKnownHosts no\n  UpdateHostKeys no\n  CheckHostIP no\n"
    );
    let mut config = String::new();
    if let Some(bastion) = &spec.defaults.bastion {
        config.push_str(&bastion_block(
            bastion,
            spec.defaults,
            dir,
            key_files,
            &common,
        )?);
    }
    config.push_str(&format!(
        "Host {TARGET_ALIAS}\n  HostName \"{}\"\n  Port {}\n  User \"{}\"\n",
        endpoint.address, endpoint.port, endpoint.user
    ));
    if let Some(key) = &spec.defaults.private_key {
        let path = key_files.write(dir.join("id"), key)?;
        config.push_str(&format!(
            "  IdentityFile \"{}\"\n  IdentitiesOnly yes\n",
            path.display()
        ));
    }
    if spec.defaults.bastion.is_some() {
        // What ProxyJump does, spelled out: ProxyJump sends the jump ssh's complaints to
        // /dev/null when the master persists, and they are what says the bastion refused.
        config.push_str(&format!(
            "  ProxyCommand ssh -F '{}' -E '{}' -W '[%h]:%p' {BASTION_ALIAS}\n",
            files.config.display(),
            files.proxy_log.display()
        ));
    }
    let (strictness, algorithms) = match spec.pinned {
        Some(pinned) => ("yes", pinned.host_key_algorithms()),
        None => ("accept-new", TOFU_HOST_KEY_ALGORITHMS.to_string()),
    };
    config.push_str(&format!(
        "  StrictHostKeyChecking {strictness}\n  HostKeyAlgorithms {algorithms}\n  \
         UserKnownHostsFile \"{}\"\n  GlobalKnownHostsFile /dev/null\n  ControlPersist {}\n",
        files.known_hosts.display(),
        control_persist_secs,
    ));
    config.push_str(&common);
    fs::write(&files.config, config)
}

fn bastion_block(
    bastion: &Bastion,
    defaults: &SshDefaults,
    dir: &Path,
    key_files: &mut KeyFiles,
    common: &str,
) -> std::io::Result<String> {
    let mut block = format!(
        "Host {BASTION_ALIAS}\n  HostName \"{}\"\n  Port {}\n  User \"{}\"\n",
        bastion.host, bastion.port, bastion.user
    );
    if let Some(key) = bastion
        .private_key
        .as_ref()
        .or(defaults.private_key.as_ref())
    {
        let path = key_files.write(dir.join("bastion-id"), key)?;
        block.push_str(&format!(
            "  IdentityFile \"{}\"\n  IdentitiesOnly yes\n",
            path.display()
        ));
    }
    block.push_str("  StrictHostKeyChecking yes\n");
    if let Some(pinned) = bastion
        .host_key
        .as_deref()
        .and_then(|k| HostKey::parse(k).ok())
    {
        let known_hosts = dir.join("bastion_known_hosts");
        fs::write(
            &known_hosts,
            pinned.known_hosts_line(&bastion.host, bastion.port),
        )?;
        block.push_str(&format!(
            "  HostKeyAlgorithms {}\n  UserKnownHostsFile \"{}\"\n  GlobalKnownHostsFile /dev/null\n",
            pinned.host_key_algorithms(),
            known_hosts.display()
        ));
    }
    block.push_str(common);
    Ok(block)
}

pub(crate) fn bastion_name(bastion: &Bastion) -> String {
    Endpoint {
        user: bastion.user.clone(),
        address: bastion.host.clone(),
        port: bastion.port,
    }
    .name()
}

/// What ssh prints for failures that may pass: a machine still booting, sshd not started yet.
const RETRYABLE: &[&str] = &[
    "Connection refused",
    "No route to host",
    "Network is unreachable",
    "Host is down",
    "Connection timed out",
    "Operation timed out",
    "timed out during banner exchange",
    "Connection reset",
    "Connection closed by",
    "kex_exchange_identification",
    "Temporary failure in name resolution",
];

/// What the bastion's ssh prints when the bastion answered but could not open the connection to
/// the target: the target's side of the failure follows.
const FORWARDING_FAILED: &[&str] = &["open failed", "connect failed", "forwarding failed"];

/// What a retryable failure means, from ssh's logs: only a timeout or a missing route to the
/// target's address says nothing answered there.
fn snag(log: &str, proxy_log: &str, through_bastion: bool) -> Snag {
    let mentions = |text: &str, needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if through_bastion && meaningful_lines(proxy_log).next().is_some() {
        // The bastion's own connection failed unless it says it could not reach the target.
        return if mentions(proxy_log, FORWARDING_FAILED) {
            target_snag(proxy_log)
        } else {
            Snag::Bastion
        };
    }
    target_snag(log)
}

fn target_snag(text: &str) -> Snag {
    if text.contains("No route to host") {
        Snag::Unanswered(Unanswered::NoRoute)
    } else if text.contains("Network is unreachable") {
        Snag::Unanswered(Unanswered::NetworkUnreachable)
    } else if text.contains("Connection refused") {
        Snag::Refused
    } else if [
        "Connection timed out",
        "Operation timed out",
        "timed out during banner exchange",
    ]
    .iter()
    .any(|n| text.contains(n))
    {
        // ssh's ConnectTimeout covers the TCP connection and the banner; through a bastion a
        // silent target shows as a banner that never came.
        Snag::Unanswered(Unanswered::Timeout)
    } else {
        Snag::Other
    }
}

const HOST_KEY_REFUSED: &[&str] = &[
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "Host key verification failed",
    "host key is known for",
];

async fn classify_failure(spec: &LaunchSpec<'_>, log: &str, proxy_log: &str) -> AttemptFailure {
    let mentions = |text: &str, needles: &[&str]| needles.iter().any(|n| text.contains(n));

    if let Some(bastion) = &spec.defaults.bastion {
        if mentions(proxy_log, HOST_KEY_REFUSED) {
            return AttemptFailure::Fatal(bastion_key_refused(spec, bastion, proxy_log).await);
        }
        if proxy_log.contains("Permission denied") {
            return AttemptFailure::Fatal(SshError::BastionLoginRefused {
                host: spec.name.to_string(),
                bastion: bastion_name(bastion),
                ssh_said: last_line(proxy_log),
            });
        }
    }
    if mentions(log, HOST_KEY_REFUSED) {
        return AttemptFailure::Fatal(target_key_refused(spec, log).await);
    }
    if spec.pinned.is_some() && log.contains("no matching host key type found") {
        return AttemptFailure::Fatal(target_key_refused(spec, log).await);
    }
    if log.contains("Permission denied") {
        return AttemptFailure::LoginRefused(SshError::LoginRefused {
            host: spec.name.to_string(),
            user: spec.endpoint.user.clone(),
            ssh_said: last_line(log),
            retried_for: None,
        });
    }
    let detail = describe(log, proxy_log);
    let snag = snag(log, proxy_log, spec.defaults.bastion.is_some());
    if mentions(log, RETRYABLE) || mentions(proxy_log, RETRYABLE) {
        return AttemptFailure::Retry(Problem { snag, detail });
    }
    let host = spec.name.to_string();
    AttemptFailure::Fatal(match (&spec.defaults.bastion, snag) {
        (Some(bastion), Snag::Bastion) => SshError::BastionConnect {
            host,
            bastion: bastion_name(bastion),
            detail,
        },
        _ => SshError::Connect { host, detail },
    })
}

async fn target_key_refused(spec: &LaunchSpec<'_>, log: &str) -> SshError {
    let expected_fingerprint = spec
        .pinned
        .map(HostKey::fingerprint)
        .unwrap_or_else(|| "a key recorded earlier".to_string());
    let presented_fingerprint = match presented_fingerprint_in_ssh_log(log) {
        Some(fingerprint) => fingerprint,
        None if spec.defaults.bastion.is_none() => {
            let endpoint = spec.endpoint;
            let preferred = spec.pinned.map(HostKey::kind);
            let scanned = match keyscan(&endpoint.address, endpoint.port, preferred).await {
                Some(key) => Some(key),
                None if preferred.is_some() => {
                    keyscan(&endpoint.address, endpoint.port, None).await
                }
                None => None,
            };
            scanned
                .map(|key| key.fingerprint())
                .unwrap_or_else(|| format!("an unknown key (ssh said: {})", last_line(log)))
        }
        None => format!("an unknown key (ssh said: {})", last_line(log)),
    };
    SshError::HostKeyChanged {
        host: spec.name.to_string(),
        expected_fingerprint,
        presented_fingerprint,
    }
}

async fn bastion_key_refused(
    spec: &LaunchSpec<'_>,
    bastion: &Bastion,
    proxy_log: &str,
) -> SshError {
    let name = format!(
        "bastion {} (jump host for {})",
        bastion_name(bastion),
        spec.name
    );
    match bastion
        .host_key
        .as_deref()
        .and_then(|k| HostKey::parse(k).ok())
    {
        Some(pinned) => {
            let presented_fingerprint = match presented_fingerprint_in_ssh_log(proxy_log) {
                Some(fingerprint) => fingerprint,
                None => keyscan(&bastion.host, bastion.port, Some(pinned.kind()))
                    .await
                    .map(|key| key.fingerprint())
                    .unwrap_or_else(|| {
                        format!("an unknown key (ssh said: {})", last_line(proxy_log))
                    }),
            };
            SshError::HostKeyChanged {
                host: name,
                expected_fingerprint: pinned.fingerprint(),
                presented_fingerprint,
            }
        }
        None => SshError::BastionHostKeyUnknown {
            host: spec.name.to_string(),
            bastion: bastion_name(bastion),
            ssh_said: last_line(proxy_log),
        },
    }
}

/// Learns the key a host presents when ssh itself did not say, e.g. when it offers no key of the
/// pinned type at all.
async fn keyscan(address: &str, port: u16, kind: Option<&str>) -> Option<HostKey> {
    let mut command = tokio::process::Command::new("ssh-keyscan");
    command.args(["-T", "5", "-p", &port.to_string()]);
    if let Some(kind) = kind {
        command.args(["-t", kind]);
    }
    command
        .arg(address)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(10), command.output())
        .await
        .ok()?
        .ok()?;
    keys_in_keyscan_output(&String::from_utf8_lossy(&output.stdout))
        .into_iter()
        .next()
}

fn meaningful_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("Warning: Permanently added"))
}

fn last_line(text: &str) -> String {
    meaningful_lines(text)
        .last()
        .unwrap_or("ssh printed nothing")
        .to_string()
}

fn describe(log: &str, proxy_log: &str) -> String {
    let mut lines: Vec<String> = meaningful_lines(proxy_log)
        .map(|line| format!("bastion: {line}"))
        .collect();
    lines.extend(meaningful_lines(log).map(str::to_string));
    if lines.is_empty() {
        "ssh failed and printed nothing".to_string()
    } else {
        lines.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_bracket_ipv6_addresses() {
        let endpoint = |address: &str| Endpoint {
            user: "root".into(),
            address: address.into(),
            port: 22,
        };
        assert_eq!(endpoint("10.0.0.1").name(), "root@10.0.0.1:22");
        assert_eq!(endpoint("fd00::1").name(), "root@[fd00::1]:22");
    }

    #[test]
    fn config_values_cannot_inject_options() {
        assert!(check_config_value("address", "10.0.0.1").is_ok());
        assert!(check_config_value("address", "host.example.com").is_ok());
        assert!(check_config_value("address", "-oProxyCommand=x").is_err());
        assert!(check_config_value("address", "h\n  ProxyCommand x").is_err());
        assert!(check_config_value("user", "a\"b").is_err());
        assert!(check_config_value("user", "").is_err());
    }

    #[test]
    fn only_timeouts_and_missing_routes_mean_nothing_answered() {
        let direct = |log: &str| snag(log, "", false);
        assert_eq!(
            direct("ssh: connect to host 10.0.0.1 port 22: No route to host"),
            Snag::Unanswered(Unanswered::NoRoute)
        );
        assert_eq!(
            direct("ssh: connect to host 10.0.0.1 port 22: Network is unreachable"),
            Snag::Unanswered(Unanswered::NetworkUnreachable)
        );
        assert_eq!(
            direct("ssh: connect to host 10.0.0.1 port 22: Connection timed out"),
            Snag::Unanswered(Unanswered::Timeout)
        );
        assert_eq!(
            direct("Connection timed out during banner exchange"),
            Snag::Unanswered(Unanswered::Timeout)
        );
        assert_eq!(
            direct("ssh: connect to host 10.0.0.1 port 22: Connection refused"),
            Snag::Refused
        );
        assert_eq!(
            direct("kex_exchange_identification: read: Connection reset by peer"),
            Snag::Other
        );
        assert_eq!(
            direct("ssh: Could not resolve hostname h: Temporary failure in name resolution"),
            Snag::Other
        );
    }

    #[test]
    fn behind_a_bastion_the_bastion_s_own_failure_is_not_the_target_s() {
        let closed = "kex_exchange_identification: Connection closed by remote host\n\
                      Connection closed by UNKNOWN port 65535\n";
        assert_eq!(
            snag(
                closed,
                "ssh: connect to host 10.0.0.9 port 22: No route to host\n",
                true
            ),
            Snag::Bastion
        );
        assert_eq!(
            snag(
                closed,
                "ssh: connect to host 10.0.0.9 port 22: Connection timed out\n",
                true
            ),
            Snag::Bastion
        );
        assert_eq!(
            snag(
                closed,
                "channel 0: open failed: connect failed: No route to host\nstdio forwarding \
                 failed\n",
                true
            ),
            Snag::Unanswered(Unanswered::NoRoute)
        );
        assert_eq!(
            snag(
                closed,
                "channel 0: open failed: connect failed: Connection refused\nstdio forwarding \
                 failed\n",
                true
            ),
            Snag::Refused
        );
        assert_eq!(
            snag("Connection timed out during banner exchange\n", "", true),
            Snag::Unanswered(Unanswered::Timeout)
        );
    }

    #[test]
    fn failure_description_drops_noise_and_labels_the_bastion() {
        let log = "Warning: Permanently added '[h]:22' (ED25519) to the list of known hosts.\n\
                   kex_exchange_identification: Connection closed by remote host\n";
        let proxy = "ssh: connect to host jump port 22: Connection refused\n";
        assert_eq!(
            describe(log, proxy),
            "bastion: ssh: connect to host jump port 22: Connection refused; \
             kex_exchange_identification: Connection closed by remote host"
        );
    }

    #[test]
    fn the_temporary_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temporary_dir().unwrap();
        let mode = fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
