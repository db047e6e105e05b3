//! The module arguments from the PAM service file (`auth required pam_cardgate.so terminal=…`).
//!
//! An unknown or malformed argument is an error: the module then refuses (fail closed) rather
//! than run with a setting the administrator did not mean.

use crate::messages::Lang;
use std::path::PathBuf;
use std::time::Duration;

/// Where cardgated listens for PAM by default.
pub const DEFAULT_SOCKET: &str = "/run/cardgate/login.sock";
/// How long to wait for a card by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// How long one request to the daemon may take by default (card I/O and the audit's fsync
/// are inside it).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest wait for a card that may be configured.
pub const MAX_WAIT_SECONDS: u64 = 600;
/// The longest request timeout that may be configured.
pub const MAX_TIMEOUT_SECONDS: u64 = 120;
/// The longest terminal ID accepted.
pub const MAX_TERMINAL_LEN: usize = 64;
/// The longest socket path accepted (a Unix socket address holds 108 bytes).
pub const MAX_SOCKET_LEN: usize = 107;

/// The module's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `terminal=ID`: the terminal as cardgated's config names it; `None` means the host name.
    pub terminal: Option<String>,
    /// `socket=PATH`: cardgated's login socket.
    pub socket: PathBuf,
    /// `wait=SECONDS`: how long to wait for a card to be inserted (0: do not wait).
    pub wait: Duration,
    /// `timeout=SECONDS`: how long one request to the daemon may take.
    pub timeout: Duration,
    /// `lang=ja|en`: the language of prompts and messages; `None` means from the locale.
    pub lang: Option<Lang>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            terminal: None,
            socket: PathBuf::from(DEFAULT_SOCKET),
            wait: DEFAULT_WAIT,
            timeout: DEFAULT_TIMEOUT,
            lang: None,
        }
    }
}

/// A module argument that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgError {
    /// Not one of ours.
    #[error("unknown argument {0:?}")]
    Unknown(String),
    /// One of ours with a bad value.
    #[error("bad value for {key}: {problem}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

fn seconds(key: &'static str, value: &str, max: u64) -> Result<Duration, ArgError> {
    let n: u64 = value.parse().map_err(|_| ArgError::BadValue {
        key,
        problem: "not a whole number of seconds",
    })?;
    if n > max {
        return Err(ArgError::BadValue {
            key,
            problem: "too long",
        });
    }
    Ok(Duration::from_secs(n))
}

/// A terminal ID as the daemon's config spells them: letters, digits, `-`, `_`, `.`.
pub fn valid_terminal(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TERMINAL_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Settings {
    /// Parses the module arguments. Later arguments override earlier ones.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Settings, ArgError> {
        let mut s = Settings::default();
        for arg in args {
            let (key, value) = arg.split_once('=').unwrap_or((arg, ""));
            match key {
                "terminal" => {
                    if !valid_terminal(value) {
                        return Err(ArgError::BadValue {
                            key: "terminal",
                            problem: "use 1-64 letters, digits, '-', '_' or '.'",
                        });
                    }
                    s.terminal = Some(value.to_owned());
                }
                "socket" => {
                    if !value.starts_with('/') || value.len() > MAX_SOCKET_LEN {
                        return Err(ArgError::BadValue {
                            key: "socket",
                            problem: "must be an absolute path of at most 107 bytes",
                        });
                    }
                    s.socket = PathBuf::from(value);
                }
                "wait" => s.wait = seconds("wait", value, MAX_WAIT_SECONDS)?,
                "timeout" => {
                    s.timeout = seconds("timeout", value, MAX_TIMEOUT_SECONDS)?;
                    if s.timeout.is_zero() {
                        return Err(ArgError::BadValue {
                            key: "timeout",
                            problem: "must be at least 1",
                        });
                    }
                }
                "lang" => {
                    s.lang = Some(Lang::from_arg(value).map_err(|_| ArgError::BadValue {
                        key: "lang",
                        problem: "use ja or en",
                    })?)
                }
                _ => return Err(ArgError::Unknown(arg.chars().take(64).collect())),
            }
        }
        Ok(s)
    }
}

/// The host name, the default terminal ID: one terminal is one machine with one reader, and
/// the login and the screen locker of that machine must name the same terminal (a locked
/// session unlocks only on the terminal that opened it).
pub fn host_terminal() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    valid_terminal(name).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn defaults() {
        let s = Settings::parse([]).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.socket, PathBuf::from("/run/cardgate/login.sock"));
        assert_eq!(s.wait, Duration::from_secs(30));
        assert_eq!(s.terminal, None);
        assert_eq!(s.lang, None);
    }

    #[test]
    fn every_key() {
        let s = Settings::parse([
            "terminal=juki-01",
            "socket=/tmp/x/login.sock",
            "wait=5",
            "timeout=7",
            "lang=ja",
        ])
        .unwrap();
        assert_eq!(s.terminal.as_deref(), Some("juki-01"));
        assert_eq!(s.socket, PathBuf::from("/tmp/x/login.sock"));
        assert_eq!(s.wait, Duration::from_secs(5));
        assert_eq!(s.timeout, Duration::from_secs(7));
        assert_eq!(s.lang, Some(Lang::Ja));
        assert_eq!(
            Settings::parse(["lang=en", "wait=0"]).unwrap().wait,
            Duration::ZERO
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            "debug",
            "terminal=",
            "terminal=a b",
            "terminal=../x",
            "socket=relative.sock",
            "wait=-1",
            "wait=1.5",
            "wait=601",
            "timeout=0",
            "lang=fr",
            "nullok",
        ] {
            assert!(Settings::parse([bad]).is_err(), "{bad} accepted");
        }
        let long = format!("terminal={}", "x".repeat(65));
        assert!(Settings::parse([long.as_str()]).is_err());
        let long = format!("socket=/{}", "x".repeat(107));
        assert!(Settings::parse([long.as_str()]).is_err());
    }
}
