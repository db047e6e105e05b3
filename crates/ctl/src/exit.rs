//! `cardgatectl`'s exit statuses, one per kind of outcome, so that a script (or the access
//! manager reading `$?`) can tell a typo from a refusal from a daemon that is down. Documented
//! in `docs/cli.md` and the man page; never renumber one.

use std::fmt;
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// 0: done.
    Success,
    /// 1: failed for a reason not listed below (an I/O error on a named file, a card error).
    Failed,
    /// 2: the command line is wrong (clap's own usage errors also exit 2).
    Usage,
    /// 3: what the command names does not exist (a file, a reader, a serial, a user).
    NotFound,
    /// 4: refused: a safety rail, the access manager's card, the daemon, or the user said no.
    Refused,
    /// 5: `cardgated` cannot be reached.
    DaemonDown,
    /// 6: a verification failed: the audit log, a backup, a signature.
    VerificationFailed,
}

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Refused => 4,
            Exit::DaemonDown => 5,
            Exit::VerificationFailed => 6,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// A failure that knows its exit status and says, in the user's language, what it is about and
/// what to do. The message is already translated when it is made.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub exit: Exit,
    /// What went wrong, naming the file, reader, serial or user.
    pub message: String,
    /// What to do about it, if there is something to say.
    pub hint: Option<String>,
}

impl Failure {
    /// A failure with no hint.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what to do.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
