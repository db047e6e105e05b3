//! Linux-PAM return codes, and which one each of the daemon's refusals ([`DenyCode`])
//! becomes: one `match`, here.
//!
//! Nothing here ever yields `PAM_SUCCESS` for a refusal, and an answer with a code this module
//! does not know does not even parse (`cardgate_protocol::parse_answer`): fail closed.

use crate::messages::Msg;
use cardgate_protocol::DenyCode;

/// Return codes from `<security/_pam_types.h>` (Linux-PAM; stable ABI values).
pub mod code {
    /// Success.
    pub const SUCCESS: i32 = 0;
    /// Error in the module (e.g. a bad argument in the service file).
    pub const SERVICE_ERR: i32 = 3;
    /// System error.
    pub const SYSTEM_ERR: i32 = 4;
    /// Memory buffer error.
    pub const BUF_ERR: i32 = 5;
    /// Permission denied.
    pub const PERM_DENIED: i32 = 6;
    /// Authentication failure.
    pub const AUTH_ERR: i32 = 7;
    /// Cannot access the authentication data (no card).
    pub const CRED_INSUFFICIENT: i32 = 8;
    /// The underlying authentication service cannot be reached or cannot decide.
    pub const AUTHINFO_UNAVAIL: i32 = 9;
    /// User not known.
    pub const USER_UNKNOWN: i32 = 10;
    /// Too many tries: the PIN is blocked.
    pub const MAXTRIES: i32 = 11;
    /// A new authentication token is required (initial PIN).
    pub const NEW_AUTHTOK_REQD: i32 = 12;
    /// The account (here: the card) has expired or was revoked.
    pub const ACCT_EXPIRED: i32 = 13;
    /// Cannot make or remove a session entry.
    pub const SESSION_ERR: i32 = 14;
    /// Conversation error.
    pub const CONV_ERR: i32 = 19;
    /// The new token could not be obtained or was refused.
    pub const AUTHTOK_ERR: i32 = 20;
    /// Preliminary check failed; try again.
    pub const TRY_AGAIN: i32 = 24;
}

/// `flags` bits (`<security/_pam_types.h>`, `<security/pam_modules.h>`).
pub mod flag {
    /// Do not emit any messages.
    pub const SILENT: u32 = 0x8000;
    /// `pam_sm_chauthtok`: first pass, check only.
    pub const PRELIM_CHECK: u32 = 0x4000;
    /// `pam_sm_chauthtok`: second pass, change the token.
    pub const UPDATE_AUTHTOK: u32 = 0x2000;
}

/// Which PAM function is answering: the same refusal maps to the code each one documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `pam_sm_authenticate`.
    Auth,
    /// `pam_sm_acct_mgmt`.
    Account,
    /// `pam_sm_chauthtok`.
    Password,
    /// `pam_sm_open_session` / `pam_sm_close_session`.
    Session,
}

/// What to tell the person and what to return for a `denied` answer.
pub fn denial<'a>(
    phase: Phase,
    reason: DenyCode,
    tries_left: Option<u8>,
    message: &'a str,
) -> (i32, Msg<'a>) {
    use code::*;
    use DenyCode as D;
    use Phase::*;
    let unavailable = match phase {
        Password => AUTHTOK_ERR,
        _ => AUTHINFO_UNAVAIL,
    };
    let card_gone = match phase {
        Auth => AUTH_ERR,
        Account | Session => PERM_DENIED,
        Password => PERM_DENIED,
    };
    let invalid_card = match phase {
        Auth => AUTH_ERR,
        Account => ACCT_EXPIRED,
        Password | Session => PERM_DENIED,
    };
    let not_yours = match phase {
        Auth => AUTH_ERR,
        Account | Password | Session => PERM_DENIED,
    };
    let (code, msg) = match reason {
        D::WrongPin => (
            match phase {
                Password => PERM_DENIED,
                _ => AUTH_ERR,
            },
            Msg::WrongPin {
                tries_left: tries_left.unwrap_or(0),
            },
        ),
        D::PinBlocked => (
            match phase {
                Auth => MAXTRIES,
                _ => PERM_DENIED,
            },
            Msg::PinBlocked,
        ),
        D::MalformedPin => (
            match phase {
                Password => AUTHTOK_ERR,
                _ => AUTH_ERR,
            },
            Msg::MalformedPin,
        ),
        D::Revoked => (invalid_card, Msg::Revoked),
        D::Returned => (invalid_card, Msg::Returned),
        D::Expired => (invalid_card, Msg::Expired),
        D::NotYetValid => (invalid_card, Msg::NotYetValid),
        D::UnknownIssuer | D::BadCertificate | D::NotOperatorCard | D::CardAuthenticationFailed => {
            (invalid_card, Msg::NotOperatorCard)
        }
        D::WrongUser => (not_yours, Msg::WrongUser),
        D::OtherCard => (not_yours, Msg::OtherCard),
        D::OutsideBusinessHours => (
            match phase {
                Auth => AUTH_ERR,
                _ => PERM_DENIED,
            },
            Msg::OutsideHours,
        ),
        D::NoCard => (
            match phase {
                Auth => CRED_INSUFFICIENT,
                Password => TRY_AGAIN,
                Account | Session => PERM_DENIED,
            },
            Msg::NoCardInTime,
        ),
        D::CardRemoved => (card_gone, Msg::CardRemoved),
        D::RateLimited => (
            match phase {
                Password => PERM_DENIED,
                _ => AUTH_ERR,
            },
            Msg::RateLimited,
        ),
        D::PinPolicy => (
            match phase {
                Password => AUTHTOK_ERR,
                _ => AUTH_ERR,
            },
            Msg::PinPolicy { rule: message },
        ),
        D::MustChangePin => (
            match phase {
                Session => SESSION_ERR,
                _ => NEW_AUTHTOK_REQD,
            },
            Msg::MustChangePin,
        ),
        D::AuditUnavailable
        | D::RevocationListStale
        | D::RevocationListUnavailable
        | D::RegisterUnavailable
        | D::ReaderUnavailable
        | D::CardError
        | D::Internal => (unavailable, Msg::ServiceUnavailable),
        // Refusals of the session step (a session opened without a granted login, a session
        // ID that is not logind's): the daemon's sentence says why.
        D::NotAuthenticated | D::BadSessionId => (refused(phase), Msg::Other { message }),
        // DenyCode is `non_exhaustive`, so the compiler asks for this arm; a code added to
        // the protocol crate without a line above fails `every_code_has_its_own_line`. Until
        // then it refuses, with the daemon's sentence.
        _ => (refused(phase), Msg::Other { message }),
    };
    // A session that cannot be registered cannot be locked on card removal: refuse it.
    let code = if phase == Session && code != SUCCESS {
        SESSION_ERR
    } else {
        code
    };
    (code, msg)
}

/// The code for a refusal with nothing more specific to say.
fn refused(phase: Phase) -> i32 {
    match phase {
        Phase::Auth => code::AUTH_ERR,
        Phase::Account => code::PERM_DENIED,
        Phase::Password => code::AUTHTOK_ERR,
        Phase::Session => code::SESSION_ERR,
    }
}

#[cfg(test)]
mod tests {
    use super::code::*;
    use super::*;

    fn c(wire: &str) -> DenyCode {
        wire.parse().unwrap()
    }

    #[test]
    fn no_refusal_is_ever_success() {
        for phase in [Phase::Auth, Phase::Account, Phase::Password, Phase::Session] {
            for &reason in DenyCode::ALL {
                let (code, _) = denial(phase, reason, Some(1), "m");
                assert_ne!(code, SUCCESS, "{phase:?} {reason}");
            }
        }
    }

    #[test]
    fn every_code_has_its_own_line() {
        // Only the two session-step refusals show the daemon's sentence as it is; a code that
        // reaches the catch-all arm has been added to the protocol without a line here.
        for &reason in DenyCode::ALL {
            let (_, msg) = denial(Phase::Auth, reason, None, "m");
            let generic = matches!(msg, Msg::Other { .. });
            let expected = matches!(reason, DenyCode::NotAuthenticated | DenyCode::BadSessionId);
            assert_eq!(generic, expected, "{reason}");
        }
    }

    #[test]
    fn the_documented_table() {
        let auth = |r: &str| denial(Phase::Auth, c(r), Some(2), "m").0;
        assert_eq!(auth("wrong_pin"), AUTH_ERR);
        assert_eq!(auth("pin_blocked"), MAXTRIES);
        assert_eq!(auth("revoked"), AUTH_ERR);
        assert_eq!(auth("expired"), AUTH_ERR);
        assert_eq!(auth("wrong_user"), AUTH_ERR);
        assert_eq!(auth("no_card"), CRED_INSUFFICIENT);
        assert_eq!(auth("audit_unavailable"), AUTHINFO_UNAVAIL);
        assert_eq!(auth("revocation_list_stale"), AUTHINFO_UNAVAIL);
        assert_eq!(auth("not_authenticated"), AUTH_ERR);
        let acct = |r: &str| denial(Phase::Account, c(r), None, "m").0;
        assert_eq!(acct("revoked"), ACCT_EXPIRED);
        assert_eq!(acct("returned"), ACCT_EXPIRED);
        assert_eq!(acct("expired"), ACCT_EXPIRED);
        assert_eq!(acct("not_yet_valid"), ACCT_EXPIRED);
        assert_eq!(acct("outside_business_hours"), PERM_DENIED);
        assert_eq!(acct("wrong_user"), PERM_DENIED);
        assert_eq!(acct("no_card"), PERM_DENIED);
        let pw = |r: &str| denial(Phase::Password, c(r), Some(1), "m").0;
        assert_eq!(pw("pin_policy"), AUTHTOK_ERR);
        assert_eq!(pw("wrong_pin"), PERM_DENIED);
        assert_eq!(pw("no_card"), TRY_AGAIN);
        assert_eq!(pw("audit_unavailable"), AUTHTOK_ERR);
        for &r in DenyCode::ALL {
            assert_eq!(denial(Phase::Session, r, None, "m").0, SESSION_ERR, "{r}");
        }
    }

    #[test]
    fn the_message_follows_the_reason() {
        assert_eq!(
            denial(Phase::Auth, DenyCode::WrongPin, Some(2), "x").1,
            Msg::WrongPin { tries_left: 2 }
        );
        assert_eq!(
            denial(Phase::Auth, DenyCode::PinBlocked, Some(0), "x").1,
            Msg::PinBlocked
        );
        assert_eq!(
            denial(Phase::Auth, DenyCode::Revoked, None, "x").1,
            Msg::Revoked
        );
        assert_eq!(
            denial(Phase::Auth, DenyCode::Expired, None, "x").1,
            Msg::Expired
        );
        assert_eq!(
            denial(Phase::Password, DenyCode::PinPolicy, None, "too short").1,
            Msg::PinPolicy { rule: "too short" }
        );
        assert_eq!(
            denial(Phase::Auth, DenyCode::BadSessionId, None, "why").1,
            Msg::Other { message: "why" }
        );
    }
}
