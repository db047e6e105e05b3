//! The client side of cardgated's login socket: one JSON request line per connection, one
//! answer line back.
//!
//! A request that carries a PIN is written into a [`Zeroizing`] buffer reserved large enough
//! up front that it never reallocates (a reallocation would leave a copy of the PIN in freed
//! memory); the buffer is wiped when it drops, right after the socket write.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use zeroize::Zeroizing;

/// The longest answer line read from the daemon.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// A request on the login socket. PINs are borrowed from the caller's zeroizing buffers.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request<'a> {
    /// Is there a usable card for `user` in the terminal's reader?
    Probe {
        /// The terminal ID.
        terminal: &'a str,
        /// The local user.
        user: &'a str,
    },
    /// Log in with the PIN.
    Authenticate {
        /// The terminal ID.
        terminal: &'a str,
        /// The local user.
        user: &'a str,
        /// The PIN.
        pin: &'a str,
    },
    /// Change the PIN.
    ChangePin {
        /// The terminal ID.
        terminal: &'a str,
        /// The local user.
        user: &'a str,
        /// The current PIN.
        old: &'a str,
        /// The new PIN.
        new: &'a str,
    },
    /// Register the login session.
    OpenSession {
        /// The terminal ID.
        terminal: &'a str,
        /// The local user.
        user: &'a str,
        /// The logind session ID.
        session_id: &'a str,
    },
    /// End the login session.
    CloseSession {
        /// The local user whose session it is.
        user: &'a str,
        /// The logind session ID.
        session_id: &'a str,
    },
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the PINs.
        let op = match self {
            Request::Probe { .. } => "probe",
            Request::Authenticate { .. } => "authenticate",
            Request::ChangePin { .. } => "change_pin",
            Request::OpenSession { .. } => "open_session",
            Request::CloseSession { .. } => "close_session",
        };
        write!(f, "Request({op}, REDACTED)")
    }
}

impl Request<'_> {
    fn fields(&self) -> Vec<&str> {
        match self {
            Request::Probe { terminal, user } => vec![terminal, user],
            Request::Authenticate {
                terminal,
                user,
                pin,
            } => vec![terminal, user, pin],
            Request::ChangePin {
                terminal,
                user,
                old,
                new,
            } => vec![terminal, user, old, new],
            Request::OpenSession {
                terminal,
                user,
                session_id,
            } => vec![terminal, user, session_id],
            Request::CloseSession { user, session_id } => vec![user, session_id],
        }
    }

    /// The request line, newline included, in a wiped-on-drop buffer that was reserved large
    /// enough for the worst case (every byte escaped as `\u00XX`) so that it never moved.
    pub fn to_line(&self) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let worst = 128
            + self
                .fields()
                .iter()
                .map(|f| 6 * f.len() + 16)
                .sum::<usize>();
        let mut line = Zeroizing::new(Vec::with_capacity(worst));
        serde_json::to_writer(&mut *line, self).map_err(ClientError::Encode)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// An answer from the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// A usable card is in the reader.
    Ready {
        /// The operator on the card.
        operator: String,
        /// The card's serial.
        serial: String,
    },
    /// Granted.
    Granted {
        /// The operator.
        operator: String,
        /// The card's serial.
        serial: String,
        /// The initial PIN must be changed before a session opens.
        #[serde(default)]
        must_change_pin: bool,
    },
    /// Refused.
    Denied {
        /// Machine-readable reason.
        reason: String,
        /// Tries left after a wrong PIN.
        #[serde(default)]
        tries_left: Option<u8>,
        /// The daemon's sentence (English).
        #[serde(default)]
        message: String,
    },
    /// The request was bad (e.g. an unknown terminal).
    Error {
        /// What was wrong.
        #[serde(default)]
        message: String,
    },
}

/// The daemon could not give an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request could not be encoded.
    #[error("cannot encode the request")]
    Encode(#[source] serde_json::Error),
    /// The socket is not there or refuses connections.
    #[error("cannot connect to cardgated")]
    Connect(#[source] std::io::Error),
    /// Reading or writing failed or timed out.
    #[error("cardgated did not answer")]
    Io(#[source] std::io::Error),
    /// The answer is over the size cap.
    #[error("cardgated's answer is too long")]
    TooLong,
    /// The answer is not one of the daemon's answers.
    #[error("cardgated's answer is not understood")]
    Garbage(#[source] serde_json::Error),
}

/// Sends one request and reads its answer, each direction within `timeout`.
pub fn ask(socket: &Path, request: &Request<'_>, timeout: Duration) -> Result<Answer, ClientError> {
    let line = request.to_line()?;
    let mut stream = UnixStream::connect(socket).map_err(ClientError::Connect)?;
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .map_err(ClientError::Io)?;
    stream.write_all(&line).map_err(ClientError::Io)?;
    drop(line);
    let mut answer = Vec::with_capacity(256);
    (&mut stream)
        .take(MAX_ANSWER_BYTES as u64 + 1)
        .read_to_end(&mut answer)
        .map_err(ClientError::Io)?;
    parse_answer(&answer)
}

/// Parses the daemon's answer line.
pub fn parse_answer(bytes: &[u8]) -> Result<Answer, ClientError> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(ClientError::TooLong);
    }
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice(line).map_err(ClientError::Garbage)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn requests_are_the_daemons_json_lines() {
        let line = Request::Probe {
            terminal: "juki-01",
            user: "tanaka",
        }
        .to_line()
        .unwrap();
        assert_eq!(
            &line[..],
            &b"{\"op\":\"probe\",\"terminal\":\"juki-01\",\"user\":\"tanaka\"}\n"[..]
        );
        let line = Request::ChangePin {
            terminal: "t",
            user: "u",
            old: "Old\"1\\",
            new: "New2\u{1}",
        }
        .to_line()
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["op"], "change_pin");
        assert_eq!(v["old"], "Old\"1\\");
        assert_eq!(v["new"], "New2\u{1}");
        let line = Request::CloseSession {
            user: "tanaka",
            session_id: "c7",
        }
        .to_line()
        .unwrap();
        assert_eq!(
            &line[..],
            &b"{\"op\":\"close_session\",\"user\":\"tanaka\",\"session_id\":\"c7\"}\n"[..]
        );
    }

    #[test]
    fn a_pin_request_never_reallocates_and_never_prints() {
        // The worst case for escaping: every byte a control character.
        let pin = "\u{1}".repeat(200);
        let request = Request::Authenticate {
            terminal: "juki-01",
            user: "tanaka",
            pin: &pin,
        };
        let worst = 128 + (6 * 7 + 16) + (6 * 6 + 16) + (6 * pin.len() + 16);
        let line = request.to_line().unwrap();
        // Reserved once, never grown: no copy of the PIN was left behind in a freed block.
        assert_eq!(line.capacity(), worst);
        assert!(line.len() <= worst);
        let shown = format!("{request:?}");
        assert!(
            !shown.contains('\u{1}') && shown.contains("REDACTED"),
            "{shown}"
        );
        let secret = Request::Authenticate {
            terminal: "t",
            user: "u",
            pin: "Tanuki42",
        };
        assert!(!format!("{secret:?}").contains("Tanuki42"));
    }

    #[test]
    fn answers_parse_and_garbage_is_an_error() {
        assert_eq!(
            parse_answer(br#"{"result":"denied","reason":"wrong_pin","tries_left":2,"message":"wrong PIN; 2 tries left"}"#).unwrap(),
            Answer::Denied {
                reason: "wrong_pin".into(),
                tries_left: Some(2),
                message: "wrong PIN; 2 tries left".into()
            }
        );
        assert_eq!(
            parse_answer(b"{\"result\":\"granted\",\"operator\":\"op-1\",\"serial\":\"00\",\"must_change_pin\":true}\n").unwrap(),
            Answer::Granted {
                operator: "op-1".into(),
                serial: "00".into(),
                must_change_pin: true
            }
        );
        for bad in [
            &b""[..],
            b"hello",
            b"{\"result\":\"granted\"}",
            b"{\"result\":\"welcome\",\"operator\":\"x\"}",
            b"{\"result\":\"denied\",\"reason\":\"wrong_pin\",\"tries_left\":300}",
            b"\xff",
        ] {
            assert!(
                matches!(parse_answer(bad), Err(ClientError::Garbage(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_answer(&vec![b' '; MAX_ANSWER_BYTES + 1]),
            Err(ClientError::TooLong)
        ));
    }

    #[test]
    fn an_absent_daemon_is_a_connect_error() {
        let r = ask(
            Path::new("/nonexistent/cardgate/login.sock"),
            &Request::CloseSession {
                user: "u",
                session_id: "x",
            },
            Duration::from_secs(1),
        );
        assert!(matches!(r, Err(ClientError::Connect(_))));
    }

    #[test]
    fn a_silent_daemon_times_out() {
        let dir = std::env::temp_dir().join(format!("cardgate-pam-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("silent.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let held = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            drop(s);
        });
        let r = ask(
            &path,
            &Request::CloseSession {
                user: "u",
                session_id: "x",
            },
            Duration::from_millis(200),
        );
        assert!(matches!(r, Err(ClientError::Io(_))), "{r:?}");
        held.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
