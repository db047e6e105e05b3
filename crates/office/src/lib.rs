//! What the daemon (`cardgated`), `cardgatectl` and the audit review share, with no async
//! runtime, one module a job:
//!
//! * [`config`]: `cardgated.toml`, its one parser and its one reader ([`config::Config::load`]);
//! * [`register`]: the card register (which card is lent to whom, and what became of it);
//! * [`hours`]: business hours, one type and one parser for the daemon and the review;
//! * [`calendar`]: Japan's national holidays and the office's closed days;
//! * [`files`]: atomic file writes and capped reads;
//! * [`published`]: the office's state (revocation list and register), signed, to every
//!   terminal;
//! * [`clock`]: the one clock everything reads.
//!
//! 日本語: デーモンと管理ツールが共有する設定・カード台帳・業務時間・ファイル書き込み・時計。
#![forbid(unsafe_code)]

pub mod calendar;
pub mod clock;
pub mod config;
pub mod files;
pub mod hours;
pub mod published;
pub mod register;

pub use clock::{Clock, ManualClock, SystemClock};
