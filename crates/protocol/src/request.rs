//! The requests on the login and admin sockets.

use crate::secret::PinField;
use crate::types::{ManagerRefusal, NoteKind, RevocationReason, Role, Serial};
use serde::{Deserialize, Serialize};

/// A request on the login socket.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    /// The request's name on the wire (`op`), for logs.
    pub fn op(&self) -> &'static str {
        match self {
            LoginRequest::Probe { .. } => "probe",
            LoginRequest::Authenticate { .. } => "authenticate",
            LoginRequest::ChangePin { .. } => "change_pin",
            LoginRequest::OpenSession { .. } => "open_session",
            LoginRequest::CloseSession { .. } => "close_session",
        }
    }
}

/// A request on the admin socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// The daemon's state: list version, readers, sessions.
    Status,
    /// The open sessions.
    Sessions,
    /// Record that a card was lent (`cardgatectl card issue`, art. 5.1). Recorded only when
    /// the card is in `reader` with that certificate and the register lends it (docs/audit.md).
    CardIssued {
        /// The card.
        serial: Serial,
        /// The operator it is lent to.
        operator: String,
        /// The role it was issued for.
        role: Role,
        /// The PC/SC reader the card was issued in, and still is.
        reader: String,
        /// The serial of the access manager's card that authorised it; absent only for the
        /// first manager card (bootstrap).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manager: Option<Serial>,
        /// The reader holding the access manager's card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manager_reader: Option<String>,
    },
    /// Record that a PIN was unblocked with the PUK (`cardgatectl card unblock`). Recorded
    /// only when the card is in `reader` and its PIN is not blocked.
    PinUnblocked {
        /// The card.
        serial: Serial,
        /// The PC/SC reader the card was unblocked in, and still is.
        reader: String,
        /// The serial of the access manager's card that authorised it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manager: Option<Serial>,
        /// The reader holding the access manager's card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manager_reader: Option<String>,
    },
    /// Record that a card came back (`cardgatectl card return`, art. 5.2).
    CardReturned {
        /// The card.
        serial: Serial,
    },
    /// Record that a card was revoked (`cardgatectl card revoke`, art. 5.4).
    CardRevoked {
        /// The card.
        serial: Serial,
        /// Why.
        reason: RevocationReason,
    },
    /// A record of work done by hand (art. 3, 4, 19), while the daemon holds the log. The
    /// record names the caller's uid as its writer (`by`).
    Note {
        /// What kind of work.
        kind: NoteKind,
        /// What was done.
        text: String,
        /// Who did it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        who: Option<String>,
        /// The escort of a visitor.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        escort: Option<String>,
    },
    /// Record that the card in `reader` refused a PUK (`cardgatectl card unblock|issue`).
    PukRejected {
        /// The card's serial; absent for a blank card (issuance).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        serial: Option<Serial>,
        /// The PC/SC reader holding the card.
        reader: String,
        /// Tries left after this one (0: now blocked).
        tries_left: u8,
    },
    /// Record that `cardgatectl card issue|unblock` refused to act because the card in `reader`
    /// did not authenticate as the access manager's.
    ManagerRefused {
        /// The serial of the card presented as the manager's, when its certificate was read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        serial: Option<Serial>,
        /// The reader holding it.
        reader: String,
        /// Why.
        reason: ManagerRefusal,
        /// Tries left after a wrong PIN.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tries_left: Option<u8>,
    },
    /// Record that a PUK was offered to the card in `reader` while its PUK was blocked.
    PukBlocked {
        /// The card's serial; absent for a blank card (issuance).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        serial: Option<Serial>,
        /// The PC/SC reader holding the card.
        reader: String,
    },
    /// Install a new revocation list, signed with the issuer key, in place of the daemon's
    /// (`cardgatectl card revoke|return` run by the access manager, who holds the issuer key
    /// but is not root). The daemon writes the list only if the issuer signed it, its
    /// version is newer than the one in force and it still lists every card the list in
    /// force lists; then it marks the cards it newly lists as revoked or returned in the
    /// register. Nothing is recorded: the `card_revoked` or `card_returned` request that
    /// follows is, with this list as its evidence. The answer is the daemon's status.
    PublishRevocationList {
        /// The signed list, in hex.
        list: String,
    },
}
