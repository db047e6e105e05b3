//! The fault campaign (issue 7): every fault through the real stack where one exists — a
//! private pcscd with vpcd readers, `cardgate-sim serve` cards in them, `cardgated` and
//! `cardgatectl` as their own processes. One module per fault family; `docs/reliability.md`
//! ("Fault campaign and load") lists what each test shows.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod audit_full;
mod card_pulled;
mod daemon_killed;
mod pcscd;
mod revocation_file;
mod session_actions;
