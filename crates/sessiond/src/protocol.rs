//! The messages on the daemon's Unix sockets are `cardgate-protocol`'s: the server parses and
//! writes only those (crates/protocol).
//!
//! Until the engine speaks them too (issue 16: the engine's decisions, not this module's),
//! it keeps two forms of its own here, [`Answer`] and [`AdminRequest`], with untyped strings.
//! The server turns one into the other at the door: an [`AdminRequest`] from the typed one
//! (so a bad serial, role or reason is refused before the engine sees it) and a typed answer
//! from each engine [`Answer`]. Once the engine builds `cardgate_protocol::Answer` and takes
//! `cardgate_protocol::AdminRequest`, both `From` impls become identities in server.rs and
//! this module is `pub use cardgate_protocol::*;`.

pub use cardgate_protocol::{
    parse_request, DenyCode, Info, LoginRequest, PinField, RequestError, Serial,
};
use serde::Serialize;

/// The engine's form of a request on the admin socket (the typed one is
/// `cardgate_protocol::AdminRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
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
        manager: Option<String>,
        /// The reader holding the access manager's card.
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
        manager: Option<String>,
        /// The reader holding the access manager's card.
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
        who: Option<String>,
        /// The escort of a visitor.
        escort: Option<String>,
    },
    /// Record that the card in `reader` refused a PUK (`cardgatectl card unblock|issue`).
    PukRejected {
        /// The card's serial; absent for a blank card (issuance).
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
        serial: Option<String>,
        /// The reader holding it.
        reader: String,
        /// certificate_rejected, card_revoked, revocation_list_stale, wrong_pin, pin_blocked,
        /// card_authentication_failed, not_authorised_here, card_removed or other.
        reason: String,
        /// Tries left after a wrong PIN.
        tries_left: Option<u8>,
    },
    /// Record that a PUK was offered to the card in `reader` while its PUK was blocked.
    PukBlocked {
        /// The card's serial; absent for a blank card (issuance).
        serial: Option<String>,
        /// The PC/SC reader holding the card.
        reader: String,
    },
}

/// The engine's form of an answer (the typed one, on the wire, is `cardgate_protocol::Answer`).
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

impl From<cardgate_protocol::AdminRequest> for AdminRequest {
    fn from(r: cardgate_protocol::AdminRequest) -> Self {
        use cardgate_protocol::AdminRequest as W;
        let hex = |s: Serial| s.to_string();
        match r {
            W::Status => AdminRequest::Status,
            W::Sessions => AdminRequest::Sessions,
            W::CardIssued {
                serial,
                operator,
                role,
                reader,
                manager,
                manager_reader,
            } => AdminRequest::CardIssued {
                serial: hex(serial),
                operator,
                role: role.as_str().to_owned(),
                reader,
                manager: manager.map(hex),
                manager_reader,
            },
            W::PinUnblocked {
                serial,
                reader,
                manager,
                manager_reader,
            } => AdminRequest::PinUnblocked {
                serial: hex(serial),
                reader,
                manager: manager.map(hex),
                manager_reader,
            },
            W::CardReturned { serial } => AdminRequest::CardReturned {
                serial: hex(serial),
            },
            W::CardRevoked { serial, reason } => AdminRequest::CardRevoked {
                serial: hex(serial),
                reason: reason.as_str().to_owned(),
            },
            W::Note {
                kind,
                text,
                who,
                escort,
            } => AdminRequest::Note {
                kind: kind.as_str().to_owned(),
                text,
                who,
                escort,
            },
            W::PukRejected {
                serial,
                reader,
                tries_left,
            } => AdminRequest::PukRejected {
                serial: serial.map(hex),
                reader,
                tries_left,
            },
            W::ManagerRefused {
                serial,
                reader,
                reason,
                tries_left,
            } => AdminRequest::ManagerRefused {
                serial: serial.map(hex),
                reader,
                reason: reason.as_str().to_owned(),
                tries_left,
            },
            W::PukBlocked { serial, reader } => AdminRequest::PukBlocked {
                serial: serial.map(hex),
                reader,
            },
        }
    }
}

/// The engine's answer, typed. Whatever does not fit the types (a reason that is no
/// [`DenyCode`], a serial that is no serial, admin data of no known shape) is a fault of the
/// daemon: it is logged and answered as a refusal or an error, never as a grant.
impl From<Answer> for cardgate_protocol::Answer {
    fn from(a: Answer) -> Self {
        use cardgate_protocol::Answer as W;
        let internal = |what: &str| {
            tracing::error!(what, "the engine built an answer the protocol cannot carry");
            W::error("internal error")
        };
        match a {
            Answer::Ready { operator, serial } => match serial.parse() {
                Ok(serial) => W::Ready { operator, serial },
                Err(_) => internal("a serial in a ready answer"),
            },
            Answer::Granted {
                operator,
                serial,
                must_change_pin,
            } => match serial.parse() {
                Ok(serial) => W::Granted {
                    operator,
                    serial,
                    must_change_pin,
                },
                Err(_) => internal("a serial in a granted answer"),
            },
            Answer::Denied {
                reason,
                tries_left,
                message,
            } => {
                let code = reason.parse().unwrap_or_else(|_| {
                    tracing::error!(
                        reason,
                        "the engine refused with a reason that is no DenyCode"
                    );
                    DenyCode::Internal
                });
                W::Denied {
                    code,
                    tries_left,
                    message,
                }
            }
            Answer::Error { message } => W::Error { message },
            Answer::Info { data } => match serde_json::from_value::<Info>(data) {
                Ok(data) => W::Info { data },
                Err(_) => internal("admin data"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cardgate_protocol::Answer as W;

    #[test]
    fn the_engines_answers_become_the_typed_ones() {
        let typed: W = Answer::Denied {
            reason: "wrong_pin".into(),
            tries_left: Some(2),
            message: "wrong PIN".into(),
        }
        .into();
        assert_eq!(
            typed,
            W::Denied {
                code: DenyCode::WrongPin,
                tries_left: Some(2),
                message: "wrong PIN".into()
            }
        );
        let typed: W = Answer::Info {
            data: serde_json::json!({ "recorded": 9 }),
        }
        .into();
        assert_eq!(typed, W::recorded(9));
        let granted: W = Answer::Granted {
            operator: "op".into(),
            serial: "0011223344556677".into(),
            must_change_pin: false,
        }
        .into();
        assert!(matches!(granted, W::Granted { .. }));
    }

    #[test]
    fn what_the_types_cannot_carry_is_never_a_grant() {
        let unknown: W = Answer::Denied {
            reason: "brand_new".into(),
            tries_left: None,
            message: "m".into(),
        }
        .into();
        assert!(matches!(
            unknown,
            W::Denied {
                code: DenyCode::Internal,
                ..
            }
        ));
        let bad_serial: W = Answer::Granted {
            operator: "op".into(),
            serial: "(none)".into(),
            must_change_pin: false,
        }
        .into();
        assert!(matches!(bad_serial, W::Error { .. }));
        let bad_data: W = Answer::Info {
            data: serde_json::json!({ "what": 1 }),
        }
        .into();
        assert!(matches!(bad_data, W::Error { .. }));
    }

    #[test]
    fn typed_admin_requests_keep_their_wire_strings_for_the_engine() {
        let r: cardgate_protocol::AdminRequest = parse_request(
            br#"{"op":"card_issued","serial":"00112233445566aa","operator":"o","role":"manager","reader":"r","manager":"00112233445566BB"}"#,
            4096,
        )
        .unwrap();
        assert_eq!(
            AdminRequest::from(r),
            AdminRequest::CardIssued {
                serial: "00112233445566AA".into(),
                operator: "o".into(),
                role: "manager".into(),
                reader: "r".into(),
                manager: Some("00112233445566BB".into()),
                manager_reader: None,
            }
        );
        let r: cardgate_protocol::AdminRequest =
            parse_request(br#"{"op":"note","kind":"room-entry","text":"t"}"#, 4096).unwrap();
        assert!(
            matches!(AdminRequest::from(r), AdminRequest::Note { kind, .. } if kind == "room-entry")
        );
    }
}
