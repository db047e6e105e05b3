//! `loginctl`, the daemon's one way to logind: each call under a timeout, its exit status and
//! error read, and `show-session`'s answer parsed into what the session keeper decides on
//! (`session_actions`). Through the configured program rather than D-Bus, so that the lab's
//! stand-in stays a shell script and the daemon needs no bus connection of its own.

use crate::session_actions::SessionActions;
use cardgate_audit::record::SessionType;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What logind reports of a session (`loginctl show-session -p Type -p State -p LockedHint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogindSession {
    /// `Type`: tty, x11, wayland, mir, unspecified.
    pub session_type: SessionType,
    /// `State` is `closing`: the session is being ended.
    pub closing: bool,
    /// `LockedHint`: a screen locker says the session is locked.
    pub locked_hint: bool,
}

/// `loginctl lock-session|unlock-session|terminate-session|show-session … -- ID`, each
/// under a timeout.
#[derive(Debug, Clone)]
pub struct Loginctl {
    program: PathBuf,
    timeout: Duration,
}

/// How much of `loginctl`'s error output is kept for the log and the record.
const STDERR_CAP: u64 = 512;
/// How much of `show-session`'s answer is read (three short properties).
const STDOUT_CAP: u64 = 4096;

/// How a `loginctl` call went wrong.
enum CallError {
    /// logind knows no such session (`No session 'ID' known`).
    NoSuchSession(String),
    /// Anything else: not started, timed out, another failure.
    Failed(String),
}

impl CallError {
    fn into_message(self) -> String {
        match self {
            CallError::NoSuchSession(m) | CallError::Failed(m) => m,
        }
    }
}

impl Loginctl {
    /// `program`, killed when a call takes longer than `timeout`.
    pub fn new(program: PathBuf, timeout: Duration) -> Self {
        Loginctl { program, timeout }
    }

    /// Runs `loginctl VERB OPTIONS -- ID`; its standard output on success.
    fn call(&self, verb: &str, options: &[&str], session_id: &str) -> Result<String, CallError> {
        let program = self.program.display();
        // `--`: a session ID is never taken for an option, whatever it says.
        let mut child = Command::new(&self.program)
            .arg(verb)
            .args(options)
            .args(["--", session_id])
            .stdin(Stdio::null())
            .stdout(if options.is_empty() {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CallError::Failed(format!("{program} {verb}: cannot start: {e}")))?;
        // Real time, not the injected clock: this waits on a real process, which a test's
        // manual clock would never let time out.
        let started = Instant::now();
        // Poll with a pause growing to 1 ms: a quick loginctl is seen within a millisecond of
        // its exit (the removal lock waits on it), and a hung one costs a wakeup a millisecond.
        // (Its answer is a few short lines, far below a pipe's buffer: it never blocks on it.)
        let mut pause = Duration::from_micros(100);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    let killed = child.kill().and_then(|()| child.wait());
                    return Err(CallError::Failed(match killed {
                        Ok(_) => format!(
                            "{program} {verb} {session_id}: no answer within {} ms (killed)",
                            self.timeout.as_millis()
                        ),
                        Err(e) => format!(
                            "{program} {verb} {session_id}: no answer within {} ms, and it could not be killed: {e}",
                            self.timeout.as_millis()
                        ),
                    }));
                }
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(1));
                }
                Err(e) => {
                    return Err(CallError::Failed(format!(
                        "{program} {verb} {session_id}: {e}"
                    )))
                }
            }
        };
        if status.success() {
            let mut out = String::new();
            if let Some(pipe) = child.stdout.take() {
                pipe.take(STDOUT_CAP)
                    .read_to_string(&mut out)
                    .map_err(|e| {
                        CallError::Failed(format!(
                            "{program} {verb} {session_id}: its answer could not be read: {e}"
                        ))
                    })?;
            }
            return Ok(out);
        }
        let mut stderr = String::new();
        if let Some(pipe) = child.stderr.take() {
            // What loginctl said is only a help for the reader: a read error leaves it out.
            if pipe.take(STDERR_CAP).read_to_string(&mut stderr).is_err() {
                stderr.clear();
            }
        }
        let said = stderr.trim();
        let message = if said.is_empty() {
            format!("{program} {verb} {session_id}: {status}")
        } else {
            format!("{program} {verb} {session_id}: {status}: {said}")
        };
        // logind's org.freedesktop.login1.NoSuchSession, as loginctl prints it.
        if said.contains("No session '") {
            Err(CallError::NoSuchSession(message))
        } else {
            Err(CallError::Failed(message))
        }
    }

    fn run(&self, verb: &str, session_id: &str) -> Result<(), String> {
        self.call(verb, &[], session_id)
            .map(drop)
            .map_err(CallError::into_message)
    }
}

/// Reads `show-session`'s `Key=Value` lines; every one of the three must be there.
fn parse_show(session_id: &str, answer: &str) -> Result<LogindSession, String> {
    let (mut kind, mut state, mut hint) = (None, None, None);
    for line in answer.lines() {
        match line.split_once('=') {
            Some(("Type", v)) => kind = Some(SessionType::from_logind(v.trim())),
            Some(("State", v)) => state = Some(v.trim() == "closing"),
            Some(("LockedHint", v)) => {
                hint = Some(match v.trim() {
                    "yes" => true,
                    "no" => false,
                    other => {
                        return Err(format!(
                    "loginctl show-session {session_id}: LockedHint={other} is neither yes nor no"
                ))
                    }
                })
            }
            _ => {}
        }
    }
    match (kind, state, hint) {
        (Some(session_type), Some(closing), Some(locked_hint)) => Ok(LogindSession {
            session_type,
            closing,
            locked_hint,
        }),
        _ => Err(format!(
            "loginctl show-session {session_id}: the answer lacks Type, State or LockedHint"
        )),
    }
}

impl SessionActions for Loginctl {
    fn lock(&self, session_id: &str) -> Result<(), String> {
        self.run("lock-session", session_id)
    }
    fn unlock(&self, session_id: &str) -> Result<(), String> {
        self.run("unlock-session", session_id)
    }
    fn terminate(&self, session_id: &str) -> Result<(), String> {
        self.run("terminate-session", session_id)
    }
    fn show(&self, session_id: &str) -> Result<Option<LogindSession>, String> {
        let options = ["-p", "Type", "-p", "State", "-p", "LockedHint"];
        match self.call("show-session", &options, session_id) {
            Ok(answer) => parse_show(session_id, &answer).map(Some),
            Err(CallError::NoSuchSession(_)) => Ok(None),
            Err(CallError::Failed(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn show_session_answers_are_read_whatever_their_order() {
        let shown = parse_show("7", "LockedHint=yes\nType=x11\nState=active\n").unwrap();
        assert_eq!(
            shown,
            LogindSession {
                session_type: SessionType::X11,
                closing: false,
                locked_hint: true
            }
        );
        let console = parse_show("7", "Type=tty\nState=closing\nLockedHint=no\n").unwrap();
        assert_eq!(console.session_type, SessionType::Tty);
        assert!(console.closing && !console.locked_hint);
        assert_eq!(
            parse_show("7", "Type=gamescope\nState=online\nLockedHint=no\n")
                .unwrap()
                .session_type,
            SessionType::Other
        );
    }

    #[test]
    fn a_show_session_answer_that_lacks_a_property_or_says_something_else_is_an_error() {
        for bad in [
            "",
            "Type=x11\nState=active\n",
            "Type=x11\nLockedHint=no\n",
            "Type=x11\nState=active\nLockedHint=maybe\n",
        ] {
            let err = parse_show("7", bad).unwrap_err();
            assert!(err.contains("show-session 7"), "{bad:?}: {err}");
        }
    }
}
