//! The request and answer messages on the daemon's Unix sockets: one JSON object per line,
//! capped in size. A PIN travels only inside [`PinField`], which never prints or serialises.

use cardgate_card::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A PIN inside a request: deserialised straight into a zeroizing secret; it has no
/// `Serialize`, and `Debug` shows `REDACTED`.
pub struct PinField(pub SecretString);

impl fmt::Debug for PinField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl<'de> Deserialize<'de> for PinField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(PinVisitor)
    }
}

/// Copies the PIN once, straight from the request buffer into the zeroizing secret (no
/// intermediate `String` left to the allocator unwiped).
struct PinVisitor;

impl serde::de::Visitor<'_> for PinVisitor {
    type Value = PinField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a PIN as a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PinField, E> {
        Ok(PinField(SecretString::new(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<PinField, E> {
        Ok(PinField(SecretString::new(v)))
    }
}

/// A request on the login socket.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoginRequest {
    /// Is there a usable card in this terminal's reader? (No PIN: lets PAM refuse a revoked
    /// card before prompting.)
    Probe {
        /// The terminal.
        terminal: String,
        /// The local user asking.
        user: String,
    },
    /// Authenticate `user` on `terminal` with the card in its reader.
    Authenticate {
        /// The terminal.
        terminal: String,
        /// The local user asking.
        user: String,
        /// The PIN.
        pin: PinField,
    },
    /// Change the PIN of the card in the terminal's reader (PAM `chauthtok`).
    ChangePin {
        /// The terminal.
        terminal: String,
        /// The local user asking.
        user: String,
        /// The current PIN.
        old: PinField,
        /// The new PIN.
        new: PinField,
    },
    /// Register the login session that PAM opens after a granted authentication.
    OpenSession {
        /// The terminal.
        terminal: String,
        /// The local user.
        user: String,
        /// The logind session ID.
        session_id: String,
    },
    /// The login session ended.
    CloseSession {
        /// The local user whose session it is (a user may end only their own).
        user: String,
        /// The logind session ID.
        session_id: String,
    },
}

impl LoginRequest {
    /// The local user the request acts for, if it names one.
    pub fn user(&self) -> Option<&str> {
        match self {
            LoginRequest::Probe { user, .. }
            | LoginRequest::Authenticate { user, .. }
            | LoginRequest::ChangePin { user, .. }
            | LoginRequest::OpenSession { user, .. }
            | LoginRequest::CloseSession { user, .. } => Some(user),
        }
    }
}

/// A request on the admin socket.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// The daemon's state: list version, readers, sessions.
    Status,
    /// The open sessions.
    Sessions,
    /// Record that a card was lent (`cardgatectl card issue`, art. 5.1). Recorded only when
    /// the card is in `reader` with that certificate and the register lends it (docs/audit.md).
    CardIssued {
        /// Serial, 16 hex digits.
        serial: String,
        /// The operator it is lent to.
        operator: String,
        /// `operator` or `manager`.
        role: String,
        /// The PC/SC reader the card was issued in, and still is.
        reader: String,
        /// The serial of the access manager's card that authorised it; absent only for the
        /// first manager card (bootstrap).
        #[serde(default)]
        manager: Option<String>,
        /// The reader holding the access manager's card.
        #[serde(default)]
        manager_reader: Option<String>,
    },
    /// Record that a PIN was unblocked with the PUK (`cardgatectl card unblock`). Recorded
    /// only when the card is in `reader` and its PIN is not blocked.
    PinUnblocked {
        /// Serial, 16 hex digits.
        serial: String,
        /// The PC/SC reader the card was unblocked in, and still is.
        reader: String,
        /// The serial of the access manager's card that authorised it.
        #[serde(default)]
        manager: Option<String>,
        /// The reader holding the access manager's card.
        #[serde(default)]
        manager_reader: Option<String>,
    },
    /// Record that a card came back (`cardgatectl card return`, art. 5.2).
    CardReturned {
        /// Serial, 16 hex digits.
        serial: String,
    },
    /// Record that a card was revoked (`cardgatectl card revoke`, art. 5.4).
    CardRevoked {
        /// Serial, 16 hex digits.
        serial: String,
        /// lost, stolen, returned, transferred, damaged, other.
        reason: String,
    },
    /// A record of work done by hand (art. 3, 4, 19), while the daemon holds the log. The
    /// record names the caller's uid as its writer (`by`).
    Note {
        /// room-entry, media, resident-card, other.
        kind: String,
        /// What was done.
        text: String,
        /// Who did it.
        #[serde(default)]
        who: Option<String>,
        /// The escort of a visitor.
        #[serde(default)]
        escort: Option<String>,
    },
    /// Record that the card in `reader` refused a PUK (`cardgatectl card unblock|issue`).
    PukRejected {
        /// The card's serial; absent for a blank card (issuance).
        #[serde(default)]
        serial: Option<String>,
        /// The PC/SC reader holding the card.
        reader: String,
        /// Tries left after this one (0: now blocked).
        tries_left: u8,
    },
    /// Record that `cardgatectl card issue|unblock` refused to act because the card in `reader`
    /// did not authenticate as the access manager's.
    ManagerRefused {
        /// The serial of the card presented as the manager's, when its certificate was read.
        #[serde(default)]
        serial: Option<String>,
        /// The reader holding it.
        reader: String,
        /// certificate_rejected, card_revoked, revocation_list_stale, wrong_pin, pin_blocked,
        /// card_authentication_failed, not_authorised_here, card_removed or other.
        reason: String,
        /// Tries left after a wrong PIN.
        #[serde(default)]
        tries_left: Option<u8>,
    },
    /// Record that a PUK was offered to the card in `reader` while its PUK was blocked.
    PukBlocked {
        /// The card's serial; absent for a blank card (issuance).
        #[serde(default)]
        serial: Option<String>,
        /// The PC/SC reader holding the card.
        reader: String,
    },
}

/// Why a request line was refused before it was understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Over the size cap.
    #[error("request exceeds {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Not one of our messages.
    #[error("malformed request")]
    Malformed(#[source] serde_json::Error),
}

/// Parses one request line, after checking its size.
pub fn parse_request<T: for<'de> Deserialize<'de>>(
    line: &[u8],
    limit: usize,
) -> Result<T, RequestError> {
    if line.len() > limit {
        return Err(RequestError::TooLarge { limit });
    }
    serde_json::from_slice(line).map_err(RequestError::Malformed)
}

/// An answer on either socket.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// A usable card is in the reader (answer to `probe`): ask for the PIN.
    Ready {
        /// The operator on the card.
        operator: String,
        /// The card.
        serial: String,
    },
    /// Granted.
    Granted {
        /// The operator authenticated.
        operator: String,
        /// The card.
        serial: String,
        /// True when the initial PIN must be changed before a session opens.
        must_change_pin: bool,
    },
    /// Refused, with a machine-readable reason and a message for people.
    Denied {
        /// e.g. `wrong_pin`, `pin_blocked`, `revoked`, `expired`, `wrong_user`, `no_card`.
        reason: String,
        /// Tries left after a wrong PIN.
        #[serde(skip_serializing_if = "Option::is_none")]
        tries_left: Option<u8>,
        /// A sentence for the person at the terminal.
        message: String,
    },
    /// The request itself was bad.
    Error {
        /// What was wrong.
        message: String,
    },
    /// An admin answer.
    Info {
        /// The data.
        data: serde_json::Value,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_hide_the_pin() {
        let r: LoginRequest = parse_request(
            br#"{"op":"authenticate","terminal":"juki-01","user":"tanaka","pin":"Tanuki42"}"#,
            4096,
        )
        .unwrap();
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("Tanuki42") && shown.contains("REDACTED"),
            "{shown}"
        );
        match r {
            LoginRequest::Authenticate { pin, .. } => assert_eq!(pin.0.expose(), "Tanuki42"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let too_big = vec![b' '; 5000];
        assert!(matches!(
            parse_request::<LoginRequest>(&too_big, 4096),
            Err(RequestError::TooLarge { .. })
        ));
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"op":"format_disk"}"#,
            br#"{"op":"probe","terminal":"t","user":"u","x":1}"#,
            b"\xff\xfe",
        ] {
            assert!(matches!(
                parse_request::<LoginRequest>(bad, 4096),
                Err(RequestError::Malformed(_))
            ));
        }
        // An error message never carries the PIN back.
        let err = parse_request::<LoginRequest>(
            br#"{"op":"authenticate","terminal":"t","user":"u","pin":"Tanuki42","extra":true}"#,
            4096,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("Tanuki42"));
        let answer = serde_json::to_string(&Answer::Denied {
            reason: "wrong_pin".into(),
            tries_left: Some(2),
            message: "wrong PIN".into(),
        })
        .unwrap();
        assert_eq!(
            answer,
            r#"{"result":"denied","reason":"wrong_pin","tries_left":2,"message":"wrong PIN"}"#
        );
    }
}
