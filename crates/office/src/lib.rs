//! What the daemon (`cardgated`), `cardgatectl` and the audit review share, with no async
//! runtime: the configuration file and its one parser, the card register, business hours,
//! atomic file writes, and the one clock everything reads.
//!
//! 日本語: デーモンと管理ツールが共有する設定・カード台帳・業務時間・時計。
#![forbid(unsafe_code)]

pub mod clock;

pub use clock::{Clock, ManualClock, SystemClock};
