//! The answers on both sockets.

use crate::deny::DenyCode;
use crate::types::Serial;
use serde::{Deserialize, Serialize};

/// An answer on either socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// A usable card is in the reader (answer to `probe`): ask for the PIN.
    Ready {
        /// The operator on the card.
        operator: String,
        /// The card.
        serial: Serial,
    },
    /// Granted.
    Granted {
        /// The operator authenticated.
        operator: String,
        /// The card.
        serial: Serial,
        /// True when the initial PIN must be changed before a session opens.
        #[serde(default)]
        must_change_pin: bool,
    },
    /// Refused, with a code and a message for people.
    Denied {
        /// Why (`"reason"` on the wire).
        #[serde(rename = "reason")]
        code: DenyCode,
        /// Tries left after a wrong PIN.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tries_left: Option<u8>,
        /// A sentence for the person at the terminal (English).
        #[serde(default)]
        message: String,
    },
    /// The request itself was bad (or the daemon could not take it).
    Error {
        /// What was wrong.
        #[serde(default)]
        message: String,
    },
    /// An admin answer.
    Info {
        /// What was asked for.
        data: Info,
    },
}

impl Answer {
    /// A refusal without a try count.
    pub fn denied(code: DenyCode, message: impl Into<String>) -> Answer {
        Answer::Denied {
            code,
            tries_left: None,
            message: message.into(),
        }
    }

    /// A bad request.
    pub fn error(message: impl Into<String>) -> Answer {
        Answer::Error {
            message: message.into(),
        }
    }

    /// An admin action was recorded as entry `seq` of the audit log.
    pub fn recorded(seq: u64) -> Answer {
        Answer::Info {
            data: Info::Recorded(Recorded { recorded: seq }),
        }
    }
}

/// The data of an admin answer: which one it is follows from the request (and from its
/// shape, for a client that reads it without knowing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Info {
    /// Answer to `status`.
    Status(Status),
    /// Answer to a request that records (`card_issued`, `note`, ...).
    Recorded(Recorded),
    /// Answer to `sessions`.
    Sessions(Vec<SessionInfo>),
}

/// The daemon's state (answer to `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The version of the revocation list in force; `null` when there is none.
    pub revocation_list_version: Option<u64>,
    /// How many sessions are open.
    pub sessions: u64,
    /// The terminals the daemon serves.
    pub terminals: Vec<TerminalInfo>,
}

/// A terminal and its reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalInfo {
    /// The terminal ID.
    pub id: String,
    /// Its PC/SC reader.
    pub reader: String,
}

/// An admin action was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// The record's sequence number in the audit log.
    pub recorded: u64,
}

/// The state of an open session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// In use.
    Active,
    /// Locked (card pulled, business hours over, re-verify due).
    Locked,
    /// Being ended.
    Ending,
}

impl SessionState {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Active => "active",
            SessionState::Locked => "locked",
            SessionState::Ending => "ending",
        }
    }
}

/// Why a session is being ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Logged out.
    Logout,
    /// The card was pulled and the session closed.
    CardRemoved,
    /// Timed out.
    Timeout,
    /// The daemon or machine shut down.
    Shutdown,
    /// The card was revoked while in use.
    Revoked,
    /// Anything else.
    Other,
    /// The session could not be locked, so it was ended instead.
    LockFailed,
    /// A lock was asked for, but the session has no screen locker (a text console): ended.
    NoLocker,
    /// The screen locker did not confirm the lock (logind's `LockedHint`) in time: ended.
    LockNotConfirmed,
}

/// One open login session (answer to `sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    /// The logind session ID.
    pub session_id: String,
    /// The terminal.
    pub terminal: String,
    /// The reader of that terminal.
    pub reader: String,
    /// The local user.
    pub user: String,
    /// The operator ID of the card.
    pub operator_id: String,
    /// The card serial, as the session table holds it (16 hex digits).
    pub serial: String,
    /// When it opened (Unix seconds).
    pub opened_at: i64,
    /// Last time the card holder proved the PIN (Unix seconds).
    pub verified_at: i64,
    /// Active, locked or being ended.
    pub state: SessionState,
    /// Why it is being ended, while `state` is `ending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// The boot it was opened in.
    #[serde(default)]
    pub boot_id: String,
}
