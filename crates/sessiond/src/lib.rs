//! The pieces of `cardgated`, the session daemon that gates terminal login on the operator
//! card (art. 5, 6.2) and offers only local interfaces (art. 15, 17).
#![forbid(unsafe_code)]

pub mod audit_sink;
pub mod cards;
pub mod cli;
pub mod daemon;
pub mod engine;
pub mod logging;
pub mod loginctl;
pub mod notify;
pub mod pcsc_cards;
pub mod preflight;
pub mod ratelimit;
pub mod server;
pub mod session_actions;
pub mod sessions;
pub mod users;

// The configuration, business hours and the card register live in `cardgate-office`, shared
// with `cardgatectl` and the audit review without an async runtime; these paths stay for the
// daemon's own modules.
pub use cardgate_office::{config, hours};

pub use cardgate_office::register;
