//! One vocabulary for "why refused": the wire's [`DenyCode`]. The audit's [`DenyReason`] is
//! derived from it here, once, and so is the code of the card crate's [`LoginError`]: no
//! decision names a reason string or a record reason of its own.

use super::*;
pub use cardgate_protocol::DenyCode;

/// The audit record's reason for a refusal answered with `code` (the `login_denied` record).
pub fn deny_reason(code: DenyCode) -> DenyReason {
    match code {
        DenyCode::WrongPin | DenyCode::MalformedPin => DenyReason::WrongPin,
        DenyCode::PinBlocked => DenyReason::PinBlocked,
        DenyCode::Revoked | DenyCode::Returned => DenyReason::CardRevoked,
        DenyCode::Expired
        | DenyCode::NotYetValid
        | DenyCode::UnknownIssuer
        | DenyCode::BadCertificate => DenyReason::CertificateRejected,
        DenyCode::CardAuthenticationFailed => DenyReason::CardAuthenticationFailed,
        DenyCode::WrongUser | DenyCode::OtherCard | DenyCode::OutsideBusinessHours => {
            DenyReason::NotAuthorisedHere
        }
        // The card, or the way to it, went away while the request needed it.
        DenyCode::NoCard | DenyCode::CardRemoved | DenyCode::ReaderUnavailable => {
            DenyReason::CardRemoved
        }
        DenyCode::RevocationListStale | DenyCode::RevocationListUnavailable => {
            DenyReason::RevocationListStale
        }
        DenyCode::AuditUnavailable => DenyReason::AuditUnavailable,
        _ => DenyReason::Other,
    }
}

/// The code of a login that the card crate refused.
pub fn login_error_code(e: &LoginError) -> DenyCode {
    match e {
        LoginError::CardRemoved => DenyCode::CardRemoved,
        LoginError::NotOperatorCard | LoginError::NotPersonalised => DenyCode::NotOperatorCard,
        LoginError::BadCertificate(_) => DenyCode::BadCertificate,
        LoginError::UnknownIssuer => DenyCode::UnknownIssuer,
        LoginError::Revoked { .. } => DenyCode::Revoked,
        LoginError::Expired { .. } => DenyCode::Expired,
        LoginError::NotYetValid { .. } => DenyCode::NotYetValid,
        LoginError::MalformedPin(_) => DenyCode::MalformedPin,
        LoginError::WrongPin { remaining: 0 } | LoginError::PinBlocked => DenyCode::PinBlocked,
        LoginError::WrongPin { .. } => DenyCode::WrongPin,
        LoginError::CardAuthenticationFailed => DenyCode::CardAuthenticationFailed,
        _ => DenyCode::CardError,
    }
}

/// The refusal answer for `code`.
pub(super) fn denied(code: DenyCode, message: impl Into<String>) -> Answer {
    denied_with_tries(code, None, message)
}

/// The refusal answer for `code`, saying how many PIN tries are left.
pub(super) fn denied_with_tries(
    code: DenyCode,
    tries_left: Option<u8>,
    message: impl Into<String>,
) -> Answer {
    Answer::Denied {
        code,
        tries_left,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_record_reason_and_the_card_errors_their_code() {
        // The reasons the records carried before the one mapping, code by code.
        assert_eq!(deny_reason(DenyCode::Returned), DenyReason::CardRevoked);
        assert_eq!(deny_reason(DenyCode::MalformedPin), DenyReason::WrongPin);
        assert_eq!(
            deny_reason(DenyCode::OutsideBusinessHours),
            DenyReason::NotAuthorisedHere
        );
        assert_eq!(
            deny_reason(DenyCode::RevocationListUnavailable),
            DenyReason::RevocationListStale
        );
        assert_eq!(
            deny_reason(DenyCode::RegisterUnavailable),
            DenyReason::Other
        );
        assert_eq!(deny_reason(DenyCode::NotOperatorCard), DenyReason::Other);
        assert_eq!(
            login_error_code(&LoginError::WrongPin { remaining: 0 }),
            DenyCode::PinBlocked
        );
        assert_eq!(
            login_error_code(&LoginError::WrongPin { remaining: 2 }),
            DenyCode::WrongPin
        );
        assert_eq!(
            login_error_code(&LoginError::NotPersonalised),
            DenyCode::NotOperatorCard
        );
        assert_eq!(login_error_code(&LoginError::Random), DenyCode::CardError);
    }
}
