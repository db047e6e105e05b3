//! The daemon's socket requests: one line, parsed as a login request and as an admin
//! request, with the daemon's default size cap.
//!
//! Invariants checked: a request over the cap is refused unread; a refused request's message
//! is one of two fixed sentences (nothing of the input, so never a PIN, reaches it); a PIN
//! shows as `REDACTED` in the request's `Debug` form, which is exactly what the daemon logs.

use crate::class;
use cardgate_protocol::{parse_request, AdminRequest, LoginRequest, RequestError};

/// The daemon's default `max_request_bytes`.
pub const LIMIT: usize = 4096;

/// Tokens for mutators: every op and field name.
pub const DICTIONARY: &[&[u8]] = &[
    b"{\"op\":\"probe\",",
    b"{\"op\":\"authenticate\",",
    b"{\"op\":\"change_pin\",",
    b"{\"op\":\"open_session\",",
    b"{\"op\":\"close_session\",",
    b"{\"op\":\"status\"}",
    b"{\"op\":\"sessions\"}",
    b"{\"op\":\"card_issued\",",
    b"{\"op\":\"card_returned\",",
    b"{\"op\":\"card_revoked\",",
    b"{\"op\":\"note\",",
    b"{\"op\":\"pin_unblocked\",",
    b"{\"op\":\"puk_rejected\",",
    b"{\"op\":\"puk_blocked\",",
    b"{\"op\":\"manager_refused\",",
    b"\"manager\":\"4D47524341524431\"",
    b"\"manager_reader\":\"Virtual PCD 00 01\"",
    b"\"reader\":\"Virtual PCD 00 00\"",
    b"\"tries_left\":9",
    b"\"terminal\":\"juki-01\"",
    b"\"user\":\"tanaka\"",
    b"\"pin\":\"Tanuki42\"",
    b"\"old\":",
    b"\"new\":",
    b"\"session_id\":\"c1\"",
    b"\"serial\":\"C0FFEE0000000042\"",
    b"\"reason\":\"lost\"",
    b"\"kind\":\"room-entry\"",
    b"\"who\":null",
    b"\\u0000",
    b"\\ud83d\\ude00",
];

fn check_error(e: &RequestError, len: usize) -> u64 {
    let shown = e.to_string();
    match e {
        RequestError::TooLarge { .. } => {
            assert!(
                len > LIMIT,
                "a request within the cap was refused as too large"
            );
            assert_eq!(shown, format!("request exceeds {LIMIT} bytes"));
        }
        _ => assert_eq!(shown, "malformed request", "an error message carries input"),
    }
    class::of_debug(&format!("{:?}", e).chars().take(24).collect::<String>())
}

fn check_login(request: &LoginRequest) {
    let shown = format!("{request:?}");
    let expected = match request {
        LoginRequest::Authenticate { terminal, user, .. } => Some(format!(
            "Authenticate {{ terminal: {terminal:?}, user: {user:?}, pin: REDACTED }}"
        )),
        LoginRequest::ChangePin { terminal, user, .. } => Some(format!(
            "ChangePin {{ terminal: {terminal:?}, user: {user:?}, old: REDACTED, new: REDACTED }}"
        )),
        _ => None,
    };
    if let Some(expected) = expected {
        assert_eq!(
            shown, expected,
            "a request's Debug form is not the redacted one"
        );
    }
}

/// One request line; returns its outcome class.
pub fn run(data: &[u8]) -> u64 {
    let login = match parse_request::<LoginRequest>(data, LIMIT) {
        Ok(r) => {
            assert!(data.len() <= LIMIT);
            check_login(&r);
            class::of_debug(&format!("{r:?}").chars().take(8).collect::<String>())
        }
        Err(e) => check_error(&e, data.len()),
    };
    let admin = match parse_request::<AdminRequest>(data, LIMIT) {
        Ok(r) => {
            assert!(data.len() <= LIMIT);
            class::of_debug(&format!("{r:?}").chars().take(8).collect::<String>())
        }
        Err(e) => check_error(&e, data.len()),
    };
    class::mix(&[login, admin])
}
