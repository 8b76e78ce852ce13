//! Phase `lock`: one Terraform run at a time per host.
//!
//! The lock is the file `/var/lib/mke-provider/lock` on the host, holding
//! `<epoch> <run> <owner>`: when it was last refreshed (the host's clock),
//! a random id of the provider process that holds it, and a name a person
//! recognises (`hostname:pid`). It lives in a directory only root can enter
//! (created 0700; refused when it is a symbolic link or not root's 0700), and
//! it is rewritten only through a temporary file in that directory and a
//! rename, so a reader never sees it half written.
//!
//! Taking, refreshing and releasing each read the file and act on it in one
//! step: every script holds `flock` on `/var/lib/mke-provider/guard` while it
//! does, so of N runs taking a free or stale lock at the same moment exactly
//! one wins. The holder refreshes it every 10 s, each host on its own and
//! with a short command timeout, so a hung host delays no other; a lock not
//! refreshed for 30 s belongs to a run that died and is taken over. When a
//! refresh finds that another run took the lock, or when it could not refresh
//! for 30 s (so another run may have), the lock is lost: [`HostLock::lost`]
//! is cancelled and [`HostLock::check`] fails, and an operation that watches
//! its locks ([`watch`]) stops working on that host.
//!
//! Resources of one run share the lock of their provider process.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mke_ssh::{shell_quote, Command, Host, Output};
use tokio_util::sync::DropGuard;

use crate::ops::{Cancel, OpError};

/// Root's private directory for the provider's state on a host.
pub const LOCK_DIR: &str = "/var/lib/mke-provider";
/// The lock file inside [`LOCK_DIR`].
pub const LOCK_FILE: &str = "/var/lib/mke-provider/lock";
/// A lock not refreshed for this long belongs to a run that died.
pub const STALE: Duration = Duration::from_secs(30);
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// One refresh may take this long; a host slower than that misses a round.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(5);
/// Taking and releasing: one quick script, but the connection may be slow.
const TAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a script waits for another one to leave the guard.
const GUARD_WAIT_SECS: u64 = 5;

/// Exit statuses of the lock scripts.
const HELD_BY_OTHER: i32 = 3;
const UNSAFE_DIR: i32 = 4;
const GUARD_BUSY: i32 = 5;

/// Who holds a lock: `owner` is shown to people, `run` tells holders apart
/// (two processes may share a hostname and a pid, in containers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub owner: String,
    pub run: String,
}

impl Holder {
    /// This provider process.
    pub fn this_process() -> &'static Holder {
        static ME: OnceLock<Holder> = OnceLock::new();
        ME.get_or_init(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "localhost".into());
            Holder::new(&format!("{host}:{}", std::process::id()), &random_run_id())
        })
    }

    /// `owner` ends the one-line lock file, so line breaks and other control
    /// characters become `?`; `run` keeps only hex digits.
    pub fn new(owner: &str, run: &str) -> Holder {
        let owner: String = owner
            .trim()
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let run: String = run.chars().filter(char::is_ascii_hexdigit).collect();
        Holder {
            owner: if owner.is_empty() {
                "unknown".into()
            } else {
                owner
            },
            run: if run.is_empty() { "0".into() } else { run },
        }
    }
}

fn random_run_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())
}

/// The part every lock script shares: the private directory, checked, and the
/// guard held; `$held`, `$age`, `$run` and `$owner` describe the lock file;
/// `put` rewrites it for `me` through a temporary file and a rename.
fn prologue(me: &Holder) -> String {
    let stale = STALE.as_secs();
    format!(
        r#"set -u
d={LOCK_DIR}
f={LOCK_FILE}
if [ -L "$d" ]; then echo "$d is a symbolic link; the lock must live in a directory of its own" >&2; exit {UNSAFE_DIR}; fi
[ -d "$d" ] || mkdir -m 700 "$d" 2>/dev/null || [ -d "$d" ] || {{ echo "cannot create $d" >&2; exit {UNSAFE_DIR}; }}
if [ -L "$d" ] || [ ! -d "$d" ] || [ "$(stat -c %u:%a "$d")" != 0:700 ]; then
  echo "$d must be a directory owned by root with mode 700, found: $(ls -ld "$d")" >&2; exit {UNSAFE_DIR}
fi
command -v flock >/dev/null 2>&1 || {{ echo "flock (util-linux) is not installed" >&2; exit {UNSAFE_DIR}; }}
exec 9>>"$d/guard" || exit {UNSAFE_DIR}
flock -w {GUARD_WAIT_SECS} 9 || {{ echo "another process held $d/guard for {GUARD_WAIT_SECS} seconds" >&2; exit {GUARD_BUSY}; }}
now=$(date +%s)
held=no ts=0 run= owner=
if [ -e "$f" ]; then held=yes; read -r ts run owner < "$f" || true; fi
case "$ts" in ''|*[!0-9]*) ts=0 ;; esac
age=$((now - ts))
fresh=no
if [ "$age" -lt {stale} ] && [ "$age" -gt -{stale} ]; then fresh=yes; fi
put() {{
  t=$(mktemp "$d/lock.XXXXXX") || exit 6
  if printf '%s %s %s\n' "$now" {run} {owner} > "$t" && mv -f "$t" "$f"; then return 0; fi
  rm -f "$t"; echo "cannot write $f" >&2; exit 6
}}
"#,
        run = shell_quote(&me.run),
        owner = shell_quote(&me.owner),
    )
}

/// Takes the lock for `me`: exit 0 printing `taken` (or `took-over <age>
/// <owner>` for a stale lock), or exit 3 printing `held <age> <owner>`.
/// Public for the concurrency test on the test bed.
pub fn take_script(me: &Holder) -> String {
    format!(
        r#"{prologue}if [ "$held" = yes ] && [ "$run" != {run} ] && [ "$fresh" = yes ]; then
  printf 'held %s %s\n' "$age" "$owner"; exit {HELD_BY_OTHER}
fi
put
if [ "$held" = yes ] && [ "$run" != {run} ]; then printf 'took-over %s %s\n' "$age" "$owner"; else echo taken; fi
"#,
        prologue = prologue(me),
        run = shell_quote(&me.run),
    )
}

/// Refreshes `me`'s lock: exit 0, or exit 3 printing `lost <owner>` when
/// the file is gone or names another run.
pub fn refresh_script(me: &Holder) -> String {
    format!(
        r#"{prologue}if [ "$held" = yes ] && [ "$run" = {run} ]; then put; echo refreshed; exit 0; fi
if [ "$held" = yes ]; then printf 'lost %s\n' "$owner"; else echo lost; fi
exit {HELD_BY_OTHER}
"#,
        prologue = prologue(me),
        run = shell_quote(&me.run),
    )
}

/// Removes the lock when `me` holds it, and only then.
pub fn release_script(me: &Holder) -> String {
    format!(
        r#"{prologue}if [ "$held" = yes ] && [ "$run" = {run} ]; then rm -f "$f"; fi
exit 0
"#,
        prologue = prologue(me),
        run = shell_quote(&me.run),
    )
}

/// What the take script answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Taken {
    Free,
    TookOver { age_secs: i64, from: String },
    HeldBy { age_secs: i64, owner: String },
}

/// `age owner` after a keyword; the owner may hold spaces.
fn age_and_owner(rest: &str) -> Option<(i64, String)> {
    let (age, owner) = rest.split_once(' ').unwrap_or((rest, ""));
    let owner = owner.trim();
    Some((
        age.trim().parse().ok()?,
        if owner.is_empty() {
            "unknown".into()
        } else {
            owner.to_string()
        },
    ))
}

fn parse_take(out: &Output) -> Option<Taken> {
    let line = out.stdout.lines().last()?.trim();
    match out.status {
        0 if line == "taken" => Some(Taken::Free),
        0 => {
            let (age_secs, from) = age_and_owner(line.strip_prefix("took-over ")?)?;
            Some(Taken::TookOver { age_secs, from })
        }
        HELD_BY_OTHER => {
            let (age_secs, owner) = age_and_owner(line.strip_prefix("held ")?)?;
            Some(Taken::HeldBy { age_secs, owner })
        }
        _ => None,
    }
}

/// What a refresh answered: `Ok` while ours, `Err(owner)` once lost.
fn parse_refresh(out: &Output) -> Option<Result<(), String>> {
    match out.status {
        0 => Some(Ok(())),
        HELD_BY_OTHER => {
            let line = out.stdout.lines().last().unwrap_or("").trim();
            let owner = line.strip_prefix("lost").unwrap_or("").trim();
            Some(Err(if owner.is_empty() {
                "nobody: the lock file was removed".into()
            } else {
                owner.to_string()
            }))
        }
        _ => None,
    }
}

/// One host's lock as this process holds it.
struct LockState {
    host: String,
    /// Cancelled once the lock is no longer ours.
    lost: Cancel,
    /// Why, once lost.
    why: Mutex<Option<String>>,
}

impl LockState {
    fn lose(&self, why: String) {
        tracing::warn!(host = %self.host, "{}: the mke provider lock is lost: {why}", self.host);
        self.why.lock().expect("lock state").get_or_insert(why);
        self.lost.cancel();
    }

    fn check(&self) -> Result<(), OpError> {
        if !self.lost.is_cancelled() {
            return Ok(());
        }
        let why = self
            .why
            .lock()
            .expect("lock state")
            .clone()
            .unwrap_or_default();
        Err(OpError::host(
            &self.host,
            format!("this run lost its lock on the host ({why}), so it stopped working there"),
            "Another Terraform run may be working on this host. Wait for it to finish, then \
             apply again; a lock not refreshed for 30 seconds is taken over.",
        ))
    }
}

struct Held {
    host: Arc<Host>,
    users: usize,
    state: Arc<LockState>,
    /// Ends the host's refresher.
    _refresher: DropGuard,
}

/// The locks this provider process holds.
#[derive(Default)]
pub struct Locks {
    held: Mutex<HashMap<String, Held>>,
    /// One take or release at a time per host, inside this process.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Locks {
    fn turn(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.turns
            .lock()
            .expect("lock turns")
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Another user of a lock this process already holds, if it does.
    fn share(self: &Arc<Self>, key: &str) -> Option<Result<HostLock, OpError>> {
        let mut held = self.held.lock().expect("lock table");
        let entry = held.get_mut(key)?;
        if let Err(e) = entry.state.check() {
            return Some(Err(e));
        }
        entry.users += 1;
        Some(Ok(HostLock {
            key: key.to_string(),
            locks: self.clone(),
            state: entry.state.clone(),
        }))
    }

    /// The last user left: forget the host (ending its refresher) and hand
    /// back what the release needs.
    fn leave(&self, key: &str) -> Option<Arc<Host>> {
        let mut held = self.held.lock().expect("lock table");
        let entry = held.get_mut(key)?;
        entry.users -= 1;
        if entry.users > 0 {
            return None;
        }
        held.remove(key).map(|h| h.host)
    }

    fn holds(&self, key: &str) -> bool {
        self.held.lock().expect("lock table").contains_key(key)
    }

    /// Removes the lock from the host unless this process took it again meanwhile.
    async fn release_on(&self, key: &str, host: &Host) {
        let turn = self.turn(key);
        let _turn = turn.lock().await;
        if self.holds(key) {
            return;
        }
        let cmd = Command::new(release_script(Holder::this_process()))
            .timeout(TAKE_TIMEOUT)
            .display("release the mke provider lock");
        if let Err(e) = host.run(&cmd).await {
            tracing::warn!(host = %host.name(), "{}: releasing the mke provider lock failed ({e}); it goes stale in 30 s", host.name());
        }
    }
}

fn refused(host: &str, owner: &str) -> OpError {
    OpError::host(
        host,
        format!("another Terraform run ({owner}) is working on this host right now"),
        "Wait for the other run to finish. A lock not refreshed for 30 seconds is \
         taken over, so a crashed run frees it by itself.",
    )
}

/// Takes the per-host lock, so that a second concurrent run fails with a
/// clear message instead of interleaving commands. Resources of one run
/// share the lock of their provider process.
pub async fn take(locks: &Arc<Locks>, host: &Arc<Host>) -> Result<HostLock, OpError> {
    let key = host.name().to_string();
    let turn = locks.turn(&key);
    let _turn = turn.lock().await;
    if let Some(shared) = locks.share(&key) {
        return shared;
    }
    let me = Holder::this_process();
    let started = Instant::now();
    let out = host
        .run(
            &Command::new(take_script(me))
                .timeout(TAKE_TIMEOUT)
                .display("take the mke provider lock"),
        )
        .await?;
    match parse_take(&out) {
        Some(Taken::Free) => {}
        Some(Taken::TookOver { age_secs, from }) => tracing::warn!(
            host = %key,
            "{key}: took over the mke provider lock of {from}, not refreshed for {age_secs} s"
        ),
        Some(Taken::HeldBy { owner, .. }) => return Err(refused(&key, &owner)),
        None if out.status == UNSAFE_DIR => {
            return Err(OpError::host(
                &key,
                format!("cannot keep the lock in {LOCK_DIR}: {}", out.stderr.trim()),
                format!(
                    "{LOCK_DIR} must be a directory owned by root with mode 700 (or absent), \
                     and `flock` (util-linux) must be installed."
                ),
            ))
        }
        None => {
            return Err(OpError::host(
                &key,
                format!(
                    "could not take the lock (exit status {}): {}",
                    out.status,
                    out.stderr.trim()
                ),
                format!("Check that {LOCK_DIR} is writable by root."),
            ))
        }
    }
    let state = Arc::new(LockState {
        host: key.clone(),
        lost: Cancel::new(),
        why: Mutex::new(None),
    });
    let stop = Cancel::new();
    tokio::spawn(refresh(host.clone(), state.clone(), stop.clone(), started));
    locks.held.lock().expect("lock table").insert(
        key.clone(),
        Held {
            host: host.clone(),
            users: 1,
            state: state.clone(),
            _refresher: stop.drop_guard(),
        },
    );
    Ok(HostLock {
        key,
        locks: locks.clone(),
        state,
    })
}

/// Keeps one host's lock fresh until `stop`; marks it lost when another run
/// took it or when no refresh went through for [`STALE`].
async fn refresh(host: Arc<Host>, state: Arc<LockState>, stop: Cancel, mut last_written: Instant) {
    let me = Holder::this_process();
    let cmd = Command::new(refresh_script(me))
        .timeout(REFRESH_TIMEOUT)
        .display("refresh the mke provider lock");
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(REFRESH_EVERY) => {}
        }
        let started = Instant::now();
        let answer = tokio::select! {
            _ = stop.cancelled() => return,
            answer = tokio::time::timeout(REFRESH_TIMEOUT, host.run(&cmd)) => answer,
        };
        let problem = match answer {
            Ok(Ok(out)) => match parse_refresh(&out) {
                Some(Ok(())) => {
                    last_written = started;
                    continue;
                }
                Some(Err(owner)) => {
                    state.lose(format!("another Terraform run ({owner}) took it over"));
                    return;
                }
                None => format!("exit status {}: {}", out.status, out.stderr.trim()),
            },
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {}s", REFRESH_TIMEOUT.as_secs()),
        };
        tracing::warn!(host = %state.host, "{}: refreshing the mke provider lock failed: {problem}", state.host);
        if last_written.elapsed() >= STALE {
            state.lose(format!(
                "it could not be refreshed for {} seconds, so another run may have taken it over; last error: {problem}",
                STALE.as_secs()
            ));
            return;
        }
    }
}

/// Held while an operation works on a host; the last holder removes the
/// lock file. Release it with [`HostLock::release`] so the next run does not
/// wait; a lock dropped without it is released in the background.
pub struct HostLock {
    key: String,
    locks: Arc<Locks>,
    state: Arc<LockState>,
}

impl HostLock {
    /// Cancelled once the lock is no longer this run's (see [`HostLock::check`]).
    pub fn lost(&self) -> Cancel {
        self.state.lost.clone()
    }

    /// Fails, naming the host and why, once another run took the lock over
    /// or it could not be refreshed in time.
    pub fn check(&self) -> Result<(), OpError> {
        self.state.check()
    }

    pub async fn release(mut self) {
        let key = std::mem::take(&mut self.key);
        // Drop then finds nothing to release.
        if let Some(host) = self.locks.leave(&key) {
            self.locks.release_on(&key, &host).await;
        }
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        if self.key.is_empty() {
            return;
        }
        let Some(host) = self.locks.leave(&self.key) else {
            return;
        };
        // An operation that failed early: release in the background, or the
        // lock goes stale in 30 s when no runtime is left to do it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let locks = self.locks.clone();
            let key = self.key.clone();
            runtime.spawn(async move { locks.release_on(&key, &host).await });
        }
    }
}

/// Releases every lock of an operation.
pub async fn release_all(locks: Vec<HostLock>) {
    futures::future::join_all(locks.into_iter().map(HostLock::release)).await;
}

/// Takes the lock of every host, one after the other; on a refusal the
/// locks already taken are released.
pub async fn take_all<'a>(
    locks: &Arc<Locks>,
    hosts: impl IntoIterator<Item = &'a Arc<Host>>,
) -> Result<Vec<HostLock>, OpError> {
    let mut taken = Vec::new();
    for host in hosts {
        match take(locks, host).await {
            Ok(l) => taken.push(l),
            Err(e) => {
                release_all(taken).await;
                return Err(e);
            }
        }
    }
    Ok(taken)
}

/// An operation's cancellation joined with its locks: [`LockWatch::cancel`]
/// is cancelled when Terraform asks the provider to stop or when any of the
/// locks is lost. Pass it where the operation passes its `Cancel` (waits,
/// drains, transfers), and turn the error it ends with into the one that
/// says why with [`LockWatch::explain`].
pub struct LockWatch {
    cancel: Cancel,
    states: Vec<Arc<LockState>>,
    /// Ends the watching tasks with the operation.
    _done: DropGuard,
}

/// Watches `locks` on behalf of an operation cancelled by `cancel`.
pub fn watch(cancel: &Cancel, locks: &[HostLock]) -> LockWatch {
    let combined = cancel.child_token();
    let done = Cancel::new();
    for lock in locks {
        let lost = lock.lost();
        let combined = combined.clone();
        let done = done.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = lost.cancelled() => combined.cancel(),
                _ = combined.cancelled() => {}
                _ = done.cancelled() => {}
            }
        });
    }
    LockWatch {
        cancel: combined,
        states: locks.iter().map(|l| l.state.clone()).collect(),
        _done: done.drop_guard(),
    }
}

impl LockWatch {
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// Fails once any of the locks is lost.
    pub fn check(&self) -> Result<(), OpError> {
        self.states.iter().try_for_each(|s| s.check())
    }

    /// A failure that came from a lost lock (a wait or a drain cut short)
    /// says so instead of blaming Ctrl-C.
    pub fn explain(&self, error: OpError) -> OpError {
        match (&error, self.check()) {
            (OpError::Cancelled { .. }, Err(lost)) => lost,
            _ => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(status: i32, stdout: &str) -> Output {
        Output {
            status,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    fn me() -> Holder {
        Holder::new("build-01:4242", "00ff00ff00ff00ff")
    }

    #[test]
    fn owner_strings_are_quoted_and_cannot_break_the_file_or_the_script() {
        let evil = Holder::new("x'; rm -rf / #\nsecond line", "abc");
        assert_eq!(evil.owner, "x'; rm -rf / #?second line");
        let script = take_script(&evil);
        assert!(
            script.contains(r#""$now" abc 'x'\''; rm -rf / #?second line' > "$t""#),
            "{script}"
        );
        assert!(!script.contains("#\nsecond"), "{script}");
    }

    #[test]
    fn run_ids_keep_only_hex_digits_and_differ_between_processes() {
        assert_eq!(Holder::new("a", "12'; x z9af").run, "129af");
        assert_eq!(Holder::new("", "").owner, "unknown");
        assert_ne!(random_run_id(), random_run_id());
    }

    #[test]
    fn every_script_holds_the_guard_in_the_private_directory_before_reading() {
        for script in [
            take_script(&me()),
            refresh_script(&me()),
            release_script(&me()),
        ] {
            let guard = script.find("flock -w 5 9").expect("guard taken");
            let read = script
                .find(r#"read -r ts run owner < "$f""#)
                .expect("file read");
            assert!(guard < read, "{script}");
            assert!(script.contains("d=/var/lib/mke-provider\n"), "{script}");
            assert!(script.contains(r#"mkdir -m 700 "$d""#), "{script}");
            assert!(script.contains(r#"!= 0:700 ]"#), "{script}");
            assert!(script.contains(r#"if [ -L "$d" ]"#), "{script}");
            assert!(!script.contains("/run/lock"), "{script}");
        }
    }

    #[test]
    fn the_lock_file_is_written_through_a_private_temporary_file_and_a_rename() {
        let script = take_script(&me());
        assert!(
            script.contains(r#"t=$(mktemp "$d/lock.XXXXXX")"#),
            "{script}"
        );
        assert!(script.contains(r#"mv -f "$t" "$f""#), "{script}");
        assert!(
            !script.contains(r#"> "$f""#),
            "never written in place: {script}"
        );
    }

    #[test]
    fn take_refuses_a_fresh_lock_of_another_run_only() {
        let script = take_script(&me());
        assert!(
            script.contains(r#"[ "$run" != 00ff00ff00ff00ff ] && [ "$fresh" = yes ]"#),
            "{script}"
        );
        assert!(script.contains(r#"[ "$age" -lt 30 ] && [ "$age" -gt -30 ]"#));
    }

    #[test]
    fn refresh_and_release_touch_only_this_runs_lock() {
        let refresh = refresh_script(&me());
        assert!(
            refresh.contains(r#"if [ "$held" = yes ] && [ "$run" = 00ff00ff00ff00ff ]; then put;"#),
            "{refresh}"
        );
        let release = release_script(&me());
        assert!(
            release.contains(
                r#"if [ "$held" = yes ] && [ "$run" = 00ff00ff00ff00ff ]; then rm -f "$f"; fi"#
            ),
            "{release}"
        );
    }

    #[test]
    fn take_answers_are_understood() {
        assert_eq!(parse_take(&output(0, "taken\n")), Some(Taken::Free));
        assert_eq!(
            parse_take(&output(0, "took-over 61 ci runner:12\n")),
            Some(Taken::TookOver {
                age_secs: 61,
                from: "ci runner:12".into()
            })
        );
        assert_eq!(
            parse_take(&output(3, "held 2 elsewhere:4242\n")),
            Some(Taken::HeldBy {
                age_secs: 2,
                owner: "elsewhere:4242".into()
            })
        );
        assert_eq!(
            parse_take(&output(3, "held -3 \n")),
            Some(Taken::HeldBy {
                age_secs: -3,
                owner: "unknown".into()
            })
        );
        assert_eq!(parse_take(&output(4, "")), None);
        assert_eq!(parse_take(&output(0, "")), None);
    }

    #[test]
    fn refresh_answers_are_understood() {
        assert_eq!(parse_refresh(&output(0, "refreshed\n")), Some(Ok(())));
        assert_eq!(
            parse_refresh(&output(3, "lost elsewhere:4242\n")),
            Some(Err("elsewhere:4242".into()))
        );
        assert_eq!(
            parse_refresh(&output(3, "lost\n")),
            Some(Err("nobody: the lock file was removed".into()))
        );
        assert_eq!(parse_refresh(&output(5, "")), None);
    }

    #[test]
    fn a_refused_lock_names_the_other_run() {
        let e = refused("root@10.0.0.5:22", "elsewhere:4242");
        assert!(e
            .to_string()
            .contains("another Terraform run (elsewhere:4242) is working on this host"));
    }

    #[tokio::test]
    async fn a_lost_lock_cancels_the_watch_and_explains_the_cancellation() {
        let state = Arc::new(LockState {
            host: "root@10.0.0.5:22".into(),
            lost: Cancel::new(),
            why: Mutex::new(None),
        });
        let lock = HostLock {
            key: String::new(),
            locks: Arc::default(),
            state: state.clone(),
        };
        let run = Cancel::new();
        let watch = watch(&run, std::slice::from_ref(&lock));
        assert!(lock.check().is_ok());
        assert!(!watch.cancel().is_cancelled());

        state.lose("another Terraform run (elsewhere:4242) took it over".into());
        tokio::time::timeout(Duration::from_secs(5), watch.cancel().cancelled())
            .await
            .expect("the watch is cancelled when a lock is lost");
        assert!(!run.is_cancelled(), "the run itself was not stopped");
        let explained = watch
            .explain(OpError::Cancelled {
                what: "waiting for the API".into(),
            })
            .to_string();
        assert!(
            explained.contains("root@10.0.0.5:22: this run lost its lock on the host (another Terraform run (elsewhere:4242) took it over)"),
            "{explained}"
        );
        assert!(lock.check().is_err());
    }

    #[tokio::test]
    async fn a_stop_reaches_the_watch_and_stays_a_stop() {
        let run = Cancel::new();
        let watch = watch(&run, &[]);
        run.cancel();
        assert!(watch.cancel().is_cancelled());
        let e = watch.explain(OpError::Cancelled {
            what: "draining".into(),
        });
        assert!(matches!(e, OpError::Cancelled { .. }));
    }
}
