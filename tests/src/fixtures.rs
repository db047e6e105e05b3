//! The standard office's names and secrets, defined once for every test, bench and the demo.
//!
//! This module depends on nothing, not even `std` beyond `&str`: the in-process tests of the
//! crates below the harness (`hardware-sim`, which the harness itself depends on) include
//! this file by path instead of depending on `cardgate-tests`, which would be a cycle.
//!
//! The secrets are test values, public by design; the operator PINs meet the PIN policy
//! (`cardgate_card::policy`), so they can be set through `cardgatectl` and the daemon too.

/// The PUK of every test card (blank or personalised).
pub const PUK: &str = "Kitsune12345";
/// A PUK that is not the card's.
pub const WRONG_PUK: &str = "Tanuki999999";
/// The PIN of a personalised operator card ([`crate::SoftCardFile::personalised`]).
pub const PIN: &str = "Tanuki42";
/// The initial PIN the access manager sets when lending a blank card (`card issue`).
pub const INITIAL_PIN: &str = "Shoki2026x";
/// The PIN an operator changes to (after the initial PIN, or an unblock).
pub const NEW_PIN: &str = "Hanami2027";

/// The access manager's PIN on the office's manager card (`Office::manager_reader`).
pub const MANAGER_PIN: &str = "Kanri2026x";
/// The PUK of the office's manager card.
pub const MANAGER_PUK: &str = "Kanrisha1234";
/// The holder of the office's manager card.
pub const MANAGER_ID: &str = "mgr-yamada";

/// The standard office's first terminal (its reader is lab slot 0).
pub const TERMINAL: &str = "juki-01";
/// The operator who logs in on [`TERMINAL`].
pub const OPERATOR: &str = "op-0042";
/// [`OPERATOR`]'s local user.
pub const USER: &str = "tanaka";
/// The second terminal of `Office::two_terminals` (lab slot 2).
pub const TERMINAL_2: &str = "juki-02";
/// The operator who logs in on [`TERMINAL_2`].
pub const OPERATOR_2: &str = "op-0043";
/// [`OPERATOR_2`]'s local user.
pub const USER_2: &str = "suzuki";

/// The admin PIN (PW3) an access manager gives an OpenPGP card at issuance and keeps.
pub const ADMIN_PIN: &str = "Kanri12345";
