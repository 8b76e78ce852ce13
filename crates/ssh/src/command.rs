use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many trailing lines of stderr a [`SshError::CommandFailed`](crate::SshError) carries.
pub const STDERR_TAIL_LINES: usize = 20;

/// Applied when a [`Command`] does not set its own timeout.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A shell script to run on a host, as root (through `sudo -n` for other users) unless
/// [`sudo(false)`](Command::sudo) is asked for.
///
/// Secrets belong in [`stdin`](Command::stdin), never in the script: the script (or the
/// [`display`](Command::display) string) shows up in logs and error messages.
#[derive(Clone)]
pub struct Command {
    script: String,
    stdin: Stdin,
    timeout: Duration,
    sudo: bool,
    display: Option<String>,
}

/// What the script reads on its standard input.
#[derive(Clone)]
pub(crate) enum Stdin {
    Nothing,
    Bytes(Vec<u8>),
    /// Read and sent as the command consumes it, never held in memory as a whole.
    File(PathBuf),
}

impl Command {
    pub fn new(script: impl Into<String>) -> Command {
        Command {
            script: script.into(),
            stdin: Stdin::Nothing,
            timeout: DEFAULT_COMMAND_TIMEOUT,
            sudo: true,
            display: None,
        }
    }

    /// The remote command is killed (with its whole process group) when this much time passes.
    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = timeout;
        self
    }

    /// Bytes fed to the script's standard input; never logged. Replaces a
    /// [`stdin_file`](Command::stdin_file).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Command {
        self.stdin = Stdin::Bytes(bytes.into());
        self
    }

    /// Streams a local file into the script's standard input as the script reads it, so that
    /// archives of any size pass without being held in memory (e.g. `k0s restore -`). The file is
    /// opened before the command starts: a file that cannot be opened fails the call with
    /// [`SshError::Io`](crate::SshError::Io) and nothing runs. Replaces [`stdin`](Command::stdin).
    ///
    /// The transfer counts against the command's [`timeout`](Command::timeout); set one that
    /// allows for the file's size.
    pub fn stdin_file(mut self, path: impl Into<PathBuf>) -> Command {
        self.stdin = Stdin::File(path.into());
        self
    }

    /// `false` runs the script as the SSH user itself.
    pub fn sudo(mut self, sudo: bool) -> Command {
        self.sudo = sudo;
        self
    }

    /// What logs and errors show instead of the script (for long or generated scripts).
    pub fn display(mut self, display: impl Into<String>) -> Command {
        self.display = Some(display.into());
        self
    }

    pub fn script(&self) -> &str {
        &self.script
    }

    pub fn timeout_duration(&self) -> Duration {
        self.timeout
    }

    pub fn uses_sudo(&self) -> bool {
        self.sudo
    }

    pub fn display_text(&self) -> &str {
        self.display.as_deref().unwrap_or(&self.script)
    }

    pub(crate) fn stdin_source(&self) -> &Stdin {
        &self.stdin
    }

    /// The local file [`stdin_file`](Command::stdin_file) streams, if any.
    pub fn stdin_path(&self) -> Option<&Path> {
        match &self.stdin {
            Stdin::File(path) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("display", &self.display_text())
            .field(
                "stdin_bytes",
                &match &self.stdin {
                    Stdin::Bytes(bytes) => Some(bytes.len()),
                    _ => None,
                },
            )
            .field("stdin_file", &self.stdin_path())
            .field("timeout", &self.timeout)
            .field("sudo", &self.sudo)
            .finish()
    }
}

/// What a command left behind. A non-zero `status` is not an error at this level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Quotes one word for a POSIX shell; shared with the k0s command lines.
pub use mke_shell::shell_quote;
/// What a command whose stdout went to a local writer left behind (see
/// [`Host::run_stdout_to`](crate::Host::run_stdout_to)). A non-zero `status` is not an error at
/// this level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedOutput {
    pub status: i32,
    /// Bytes of stdout written to the writer.
    pub stdout_bytes: u64,
    pub stderr: String,
}

impl StreamedOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// How a script is wrapped on a host: the login shell receives this line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wrapping {
    pub(crate) via_sudo: bool,
    /// Whole seconds after which coreutils `timeout` on the host kills the script's process group;
    /// `None` when the host has no `timeout`.
    pub(crate) remote_timeout_secs: Option<u64>,
}

/// Seconds between the polite SIGTERM and the SIGKILL that `timeout -k` sends.
pub(crate) const KILL_GRACE_SECS: u64 = 5;

pub(crate) fn remote_command_line(script: &str, wrapping: Wrapping) -> String {
    let mut line = String::new();
    if wrapping.via_sudo {
        line.push_str("sudo -n ");
    }
    if let Some(secs) = wrapping.remote_timeout_secs {
        line.push_str(&format!("timeout -k {KILL_GRACE_SECS} {secs} "));
    }
    line.push_str("sh -c ");
    line.push_str(&shell_quote(script));
    line
}

/// Whole seconds, rounded up so that a remote timeout never fires before the local one would.
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs.max(1)
    }
}

pub(crate) fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// sudo's own complaints when it would have to ask for a password (sudo -n never asks).
pub(crate) fn sudo_wants_password(stderr: &str) -> bool {
    stderr.contains("sudo: a password is required")
        || stderr.contains("sudo: a terminal is required")
        || stderr.contains("is not in the sudoers file")
        || stderr.contains("is not allowed to execute")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn root_line_runs_sh_under_timeout() {
        let line = remote_command_line(
            "echo 'hi'",
            Wrapping {
                via_sudo: false,
                remote_timeout_secs: Some(20),
            },
        );
        assert_eq!(line, r"timeout -k 5 20 sh -c 'echo '\''hi'\'''");
    }

    #[test]
    fn sudo_comes_before_timeout_so_the_timer_can_kill_root_processes() {
        let line = remote_command_line(
            "id -u",
            Wrapping {
                via_sudo: true,
                remote_timeout_secs: Some(3),
            },
        );
        assert_eq!(line, "sudo -n timeout -k 5 3 sh -c 'id -u'");
        let plain = remote_command_line(
            "id -u",
            Wrapping {
                via_sudo: false,
                remote_timeout_secs: None,
            },
        );
        assert_eq!(plain, "sh -c 'id -u'");
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1500)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(20)), 20);
        assert_eq!(ceil_secs(Duration::ZERO), 1);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let tail = tail_lines(&text, STDERR_TAIL_LINES);
        assert!(tail.starts_with("line 11\n"), "{tail}");
        assert!(tail.ends_with("line 30"), "{tail}");
    }

    #[test]
    fn debug_never_shows_stdin() {
        let cmd = Command::new("cat").stdin("token-123");
        let shown = format!("{cmd:?}");
        assert!(!shown.contains("token-123"), "{shown}");
        assert!(shown.contains("stdin_bytes: Some(9)"), "{shown}");
    }

    #[test]
    fn the_last_stdin_given_wins_and_debug_names_the_file() {
        let cmd = Command::new("k0s restore -")
            .stdin("x")
            .stdin_file("/tmp/backup.tar.gz");
        assert_eq!(cmd.stdin_path(), Some(Path::new("/tmp/backup.tar.gz")));
        let shown = format!("{cmd:?}");
        assert!(shown.contains("stdin_bytes: None"), "{shown}");
        assert!(
            shown.contains("stdin_file: Some(\"/tmp/backup.tar.gz\")"),
            "{shown}"
        );
        let back = cmd.stdin("y");
        assert_eq!(back.stdin_path(), None);
    }

    #[test]
    fn display_defaults_to_script() {
        assert_eq!(Command::new("k0s status").display_text(), "k0s status");
        assert_eq!(
            Command::new("long script")
                .display("install")
                .display_text(),
            "install"
        );
    }
}
