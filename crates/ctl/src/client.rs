//! Talking to `cardgated` over its local sockets: one request line, one answer line, both in
//! the types of `cardgate-protocol` (no JSON is written or read here by hand).

use crate::exit::{Exit, Failure};
use crate::files::CmdError;
use cardgate_i18n::{tr, Lang};
use cardgate_protocol::{
    encode_request, parse_answer, AdminRequest, Answer, AnswerError, EncodeError, LoginRequest,
    WireRequest, MAX_ADMIN_ANSWER_BYTES,
};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not running, or the socket is not ours to use.
    #[error("cannot reach cardgated at {path}")]
    Unreachable {
        /// The socket.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request could not be written.
    #[error("cannot encode the request")]
    Encode(#[source] EncodeError),
    /// It answered something we cannot read (too long, empty, an unknown result or code).
    #[error("cardgated sent an unreadable answer")]
    BadAnswer(#[source] AnswerError),
    /// I/O after connecting.
    #[error("talking to cardgated failed")]
    Io(#[source] std::io::Error),
}

impl ClientError {
    /// The failure a person reads, in `lang`: the daemon down is [`Exit::DaemonDown`] naming
    /// the socket, with `systemctl status cardgated` as what to do; a socket that is there but
    /// not ours to use is [`Exit::Refused`] (the admin group); anything else names the socket
    /// and exits [`Exit::Failed`].
    pub fn failure(&self, lang: Lang, socket: &Path) -> Failure {
        let path = socket.display().to_string();
        match self {
            ClientError::Unreachable { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Failure::new(
                    Exit::Refused,
                    tr!(lang, "ctl-state-daemon-forbidden", socket = path),
                )
                .hint(tr!(lang, "ctl-state-daemon-forbidden-hint"))
            }
            ClientError::Unreachable { source, .. } => Failure::new(
                Exit::DaemonDown,
                tr!(
                    lang,
                    "ctl-state-daemon-down",
                    socket = path,
                    error = source.to_string()
                ),
            )
            .hint(tr!(lang, "ctl-state-daemon-down-hint")),
            other => Failure::new(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-state-daemon-talk",
                    socket = path,
                    error = crate::files::chain(other)
                ),
            )
            .hint(tr!(lang, "ctl-state-daemon-down-hint")),
        }
    }
}

/// Sends one request on the admin socket; a failure to reach the daemon is the
/// [`ClientError::failure`] a person reads (exit 5 when it is down, naming the socket), and an
/// `error` or `denied` answer is [`Exit::Refused`] with the daemon's message.
pub fn call(lang: Lang, socket: &Path, request: &AdminRequest) -> Result<Answer, CmdError> {
    let answer = ask(socket, request).map_err(|e| e.failure(lang, socket))?;
    expect_ok(answer)
}

/// Sends one request on the login socket, the daemon's absence reported as by [`call`]; the
/// answer is returned as it is (a denial is the caller's business).
pub fn call_login(lang: Lang, socket: &Path, request: &LoginRequest) -> Result<Answer, CmdError> {
    Ok(ask_login(socket, request).map_err(|e| e.failure(lang, socket))?)
}

/// Sends one request on the admin socket and returns the answer.
pub fn ask(socket: &Path, request: &AdminRequest) -> Result<Answer, ClientError> {
    exchange(socket, request)
}

/// Sends one request on the login socket (its PIN, if any, only ever in a zeroizing buffer)
/// and returns the answer.
pub fn ask_login(socket: &Path, request: &LoginRequest) -> Result<Answer, ClientError> {
    exchange(socket, request)
}

fn exchange<R: WireRequest>(socket: &Path, request: &R) -> Result<Answer, ClientError> {
    let line = encode_request(request).map_err(ClientError::Encode)?;
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Unreachable {
        path: socket.display().to_string(),
        source,
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(ClientError::Io)?;
    stream.write_all(&line).map_err(ClientError::Io)?;
    drop(line);
    let mut out = Vec::new();
    // One byte over the cap, so that parse_answer tells a long answer from one that fits.
    stream
        .take(MAX_ADMIN_ANSWER_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(ClientError::Io)?;
    parse_answer(&out, MAX_ADMIN_ANSWER_BYTES).map_err(ClientError::BadAnswer)
}

/// The daemon's answer as a result: `error` and `denied` become [`Exit::Refused`] failures
/// with the daemon's message (which names the serial, reader or user it refused).
pub fn expect_ok(answer: Answer) -> Result<Answer, CmdError> {
    match answer {
        Answer::Error { message } | Answer::Denied { message, .. } => Err(Box::new(Failure::new(
            Exit::Refused,
            if message.is_empty() {
                "refused".to_owned()
            } else {
                message
            },
        ))),
        other => Ok(other),
    }
}

/// A card's serial as the protocol types it.
pub fn serial(s: cardgate_card::CardSerial) -> cardgate_protocol::Serial {
    cardgate_protocol::Serial(s.0)
}

/// A role as the protocol types it.
pub fn role(r: cardgate_card::Role) -> cardgate_protocol::Role {
    match r {
        cardgate_card::Role::Operator => cardgate_protocol::Role::Operator,
        cardgate_card::Role::AccessManager => cardgate_protocol::Role::Manager,
    }
}

/// A revocation reason as the protocol types it.
pub fn revocation_reason(
    r: cardgate_card::RevocationReason,
) -> cardgate_protocol::RevocationReason {
    use cardgate_card::RevocationReason as C;
    use cardgate_protocol::RevocationReason as P;
    match r {
        C::Lost => P::Lost,
        C::Stolen => P::Stolen,
        C::Returned => P::Returned,
        C::Transferred => P::Transferred,
        C::Damaged => P::Damaged,
        C::Other => P::Other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_card_crates_values_keep_their_wire_strings() {
        for r in cardgate_card::RevocationReason::ALL {
            assert_eq!(revocation_reason(r).as_str(), r.as_str());
        }
        assert_eq!(role(cardgate_card::Role::AccessManager).as_str(), "manager");
        assert_eq!(role(cardgate_card::Role::Operator).as_str(), "operator");
        let s = cardgate_card::CardSerial([1, 2, 3, 4, 5, 6, 7, 0xff]);
        assert_eq!(serial(s).to_string(), s.to_string());
    }

    #[test]
    fn refusals_are_errors_with_their_message() {
        assert_eq!(
            expect_ok(Answer::error("no")).unwrap_err().to_string(),
            "no"
        );
        assert_eq!(
            expect_ok(Answer::denied(cardgate_protocol::DenyCode::Internal, ""))
                .unwrap_err()
                .to_string(),
            "refused"
        );
        assert!(expect_ok(Answer::recorded(3)).is_ok());
        let refused = expect_ok(Answer::error("no")).unwrap_err();
        assert_eq!(
            refused.downcast_ref::<Failure>().map(|f| f.exit),
            Some(Exit::Refused)
        );
    }

    #[test]
    fn a_daemon_that_is_down_is_exit_5_naming_the_socket() {
        let dir = std::env::temp_dir().join(format!("cardgatectl-client-{}", std::process::id()));
        let socket = dir.join("admin.sock");
        let e = call(Lang::En, &socket, &AdminRequest::Status).unwrap_err();
        let f = e.downcast_ref::<Failure>().unwrap();
        assert_eq!(f.exit, Exit::DaemonDown);
        assert!(
            f.message.contains(&socket.display().to_string()),
            "{}",
            f.message
        );
        assert!(f
            .hint
            .as_deref()
            .unwrap()
            .contains("systemctl status cardgated"));
    }
}
