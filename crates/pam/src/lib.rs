//! `pam_cardgate.so`: terminal login with the operator card, for Linux-PAM.
//!
//! The module holds no card logic: it asks cardgated over its login socket (one JSON line
//! per connection) and turns the answers into prompts, messages and PAM return codes. The
//! daemon checks the card, the PIN, the lending (art. 5.3), revocation (art. 5.4) and business
//! hours, writes the audit log, and locks the session when the card is pulled (art. 6.2).
//!
//! * [`args`]: the module arguments (`terminal=`, `socket=`, `wait=`, `timeout=`, `lang=`).
//! * [`messages`]: every prompt and message, in Japanese and English.
//! * [`codes`]: the PAM return codes and the reason → code table.
//! * [`client`]: the daemon's protocol; PINs only in zeroizing buffers.
//! * [`flows`]: what each `pam_sm_*` function does, testable without libpam.
//! * [`syslog`]: the lines logged for the administrator (`pam_syslog`, `LOG_AUTHPRIV`).
//! * `ffi`: the only unsafe code: libpam's declarations and the exported entry points.
//!
//! Fail closed: a daemon that cannot be reached, answers garbage or times out, a bad module
//! argument, a conversation failure or a panic never yield `PAM_SUCCESS`.
#![deny(unsafe_code)]

pub mod args;
pub mod client;
pub mod codes;
mod ffi;
pub mod flows;
pub mod messages;
pub mod syslog;

pub use ffi::{
    pam_sm_acct_mgmt, pam_sm_authenticate, pam_sm_chauthtok, pam_sm_close_session,
    pam_sm_open_session, pam_sm_setcred, PamHandle,
};
