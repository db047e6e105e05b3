//! The client side of cardgated's login socket: one request line per connection, one answer
//! line back, both in the types of `cardgate-protocol`.
//!
//! A request that carries a PIN is written by [`cardgate_protocol::encode_request`] into a
//! [`Zeroizing`](zeroize::Zeroizing) buffer reserved at exactly the line's size, so that it never reallocates (a
//! reallocation would leave a copy of the PIN in freed memory); the buffer is wiped when it
//! drops, right after the socket write.

pub use cardgate_protocol::{Answer, DenyCode, LoginRequest, PinField, MAX_ANSWER_BYTES};
use cardgate_protocol::{AnswerError, EncodeError};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The daemon could not give an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request could not be encoded.
    #[error("cannot encode the request")]
    Encode(#[source] EncodeError),
    /// The socket is not there or refuses connections.
    #[error("cannot connect to cardgated")]
    Connect(#[source] std::io::Error),
    /// Reading or writing failed or timed out.
    #[error("cardgated did not answer")]
    Io(#[source] std::io::Error),
    /// The answer is over the size cap, empty, or not one of the daemon's answers (an unknown
    /// deny code included: fail closed).
    #[error("cardgated's answer is not understood")]
    Answer(#[source] AnswerError),
}

/// Sends one request and reads its answer, each direction within `timeout`.
pub fn ask(
    socket: &Path,
    request: &LoginRequest,
    timeout: Duration,
) -> Result<Answer, ClientError> {
    let line = cardgate_protocol::encode_request(request).map_err(ClientError::Encode)?;
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
    cardgate_protocol::parse_answer(bytes, MAX_ANSWER_BYTES).map_err(ClientError::Answer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use cardgate_protocol::Serial;

    fn line(r: &LoginRequest) -> Vec<u8> {
        cardgate_protocol::encode_request(r).unwrap().to_vec()
    }

    #[test]
    fn requests_are_the_daemons_json_lines() {
        assert_eq!(
            line(&LoginRequest::Probe {
                terminal: "juki-01".into(),
                user: "tanaka".into(),
            }),
            b"{\"op\":\"probe\",\"terminal\":\"juki-01\",\"user\":\"tanaka\"}\n"
        );
        let sent = line(&LoginRequest::ChangePin {
            terminal: "t".into(),
            user: "u".into(),
            old: PinField::copy_from("Old\"1\\"),
            new: PinField::copy_from("New2\u{1}"),
        });
        let back: LoginRequest = cardgate_protocol::parse_request(&sent, 4096).unwrap();
        match back {
            LoginRequest::ChangePin { old, new, .. } => {
                assert_eq!(old.expose(), "Old\"1\\");
                assert_eq!(new.expose(), "New2\u{1}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            line(&LoginRequest::CloseSession {
                user: "tanaka".into(),
                session_id: "c7".into(),
            }),
            b"{\"op\":\"close_session\",\"user\":\"tanaka\",\"session_id\":\"c7\"}\n"
        );
    }

    #[test]
    fn a_pin_request_never_reallocates_and_never_prints() {
        // The worst case for escaping: every byte a control character.
        let pin = "\u{1}".repeat(200);
        let request = LoginRequest::Authenticate {
            terminal: "juki-01".into(),
            user: "tanaka".into(),
            pin: PinField::copy_from(&pin),
        };
        let line = cardgate_protocol::encode_request(&request).unwrap();
        // Reserved once at its size, never grown: no copy of the PIN was left in a freed block.
        assert_eq!(line.capacity(), line.len());
        assert!(line.len() > 6 * pin.len());
        let shown = format!("{request:?}");
        assert!(
            !shown.contains('\u{1}') && shown.contains("REDACTED"),
            "{shown}"
        );
        let secret = LoginRequest::Authenticate {
            terminal: "t".into(),
            user: "u".into(),
            pin: PinField::copy_from("Tanuki42"),
        };
        assert!(!format!("{secret:?}").contains("Tanuki42"));
    }

    #[test]
    fn answers_parse_and_garbage_is_an_error() {
        assert_eq!(
            parse_answer(br#"{"result":"denied","reason":"wrong_pin","tries_left":2,"message":"wrong PIN; 2 tries left"}"#).unwrap(),
            Answer::Denied {
                code: DenyCode::WrongPin,
                tries_left: Some(2),
                message: "wrong PIN; 2 tries left".into()
            }
        );
        assert_eq!(
            parse_answer(b"{\"result\":\"granted\",\"operator\":\"op-1\",\"serial\":\"0011223344556677\",\"must_change_pin\":true}\n").unwrap(),
            Answer::Granted {
                operator: "op-1".into(),
                serial: Serial([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]),
                must_change_pin: true
            }
        );
        for bad in [
            &b""[..],
            b"hello",
            b"{\"result\":\"granted\"}",
            b"{\"result\":\"granted\",\"operator\":\"op-1\",\"serial\":\"00\"}",
            b"{\"result\":\"welcome\",\"operator\":\"x\"}",
            b"{\"result\":\"denied\",\"reason\":\"wrong_pin\",\"tries_left\":300}",
            // A reason added to the daemon after this module: not understood, refused.
            b"{\"result\":\"denied\",\"reason\":\"something_new\",\"message\":\"m\"}",
            b"\xff",
        ] {
            assert!(
                matches!(parse_answer(bad), Err(ClientError::Answer(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_answer(&vec![b' '; MAX_ANSWER_BYTES + 1]),
            Err(ClientError::Answer(AnswerError::TooLarge { .. }))
        ));
    }

    fn close() -> LoginRequest {
        LoginRequest::CloseSession {
            user: "u".into(),
            session_id: "x".into(),
        }
    }

    #[test]
    fn an_absent_daemon_is_a_connect_error() {
        let r = ask(
            Path::new("/nonexistent/cardgate/login.sock"),
            &close(),
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
        let r = ask(&path, &close(), Duration::from_millis(200));
        assert!(matches!(r, Err(ClientError::Io(_))), "{r:?}");
        held.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
