//! One vocabulary for "why refused": the wire's [`DenyCode`]. The audit's [`DenyReason`] is
//! derived from it here, once, and so is the code of the card crate's [`LoginError`]: no
//! decision names a reason string or a record reason of its own.

use super::*;
pub use cardgate_protocol::DenyCode;

/// The audit record's reason for a refusal answered with `code` (the `login_denied` record).
pub fn deny_reason(code: DenyCode) -> DenyReason {
    // Each refusal names its own reason: the review tells a found card being tried (wrong
    // PINs) from a typing slip that spent no try (malformed), a returned card from a revoked
    // one, an attempt out of hours from a card lent to someone else.
    match code {
        DenyCode::WrongPin => DenyReason::WrongPin,
        DenyCode::MalformedPin => DenyReason::MalformedPin,
        DenyCode::PinBlocked => DenyReason::PinBlocked,
        DenyCode::Revoked => DenyReason::CardRevoked,
        DenyCode::Returned => DenyReason::CardReturned,
        DenyCode::Expired
        | DenyCode::NotYetValid
        | DenyCode::UnknownIssuer
        | DenyCode::BadCertificate => DenyReason::CertificateRejected,
        DenyCode::NotOperatorCard => DenyReason::NotOperatorCard,
        DenyCode::CardAuthenticationFailed => DenyReason::CardAuthenticationFailed,
        DenyCode::WrongUser => DenyReason::WrongUser,
        DenyCode::OtherCard => DenyReason::OtherCard,
        DenyCode::OutsideBusinessHours => DenyReason::OutsideBusinessHours,
        DenyCode::NoCard => DenyReason::NoCard,
        DenyCode::CardRemoved => DenyReason::CardRemoved,
        DenyCode::ReaderUnavailable => DenyReason::ReaderUnavailable,
        DenyCode::RevocationListStale => DenyReason::RevocationListStale,
        DenyCode::RevocationListUnavailable => DenyReason::RevocationListUnavailable,
        DenyCode::RegisterUnavailable => DenyReason::RegisterUnavailable,
        DenyCode::CardError => DenyReason::CardError,
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
        // A returned card is on the list with reason `returned` (art. 5.2): said as such.
        LoginError::Revoked {
            reason: RevocationReason::Returned,
            ..
        } => DenyCode::Returned,
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

    // Before issue 12 these refusals were recorded with another refusal's reason: a PIN
    // that spent no try as a wrong PIN, a returned card as revoked, an attempt out of hours
    // as "not authorised here", a missing card as pulled, a missing list as stale.
    #[test]
    fn every_refusal_is_recorded_with_its_own_reason() {
        for (code, reason) in [
            (DenyCode::WrongPin, DenyReason::WrongPin),
            (DenyCode::MalformedPin, DenyReason::MalformedPin),
            (DenyCode::PinBlocked, DenyReason::PinBlocked),
            (DenyCode::Revoked, DenyReason::CardRevoked),
            (DenyCode::Returned, DenyReason::CardReturned),
            (DenyCode::Expired, DenyReason::CertificateRejected),
            (DenyCode::NotOperatorCard, DenyReason::NotOperatorCard),
            (DenyCode::WrongUser, DenyReason::WrongUser),
            (DenyCode::OtherCard, DenyReason::OtherCard),
            (
                DenyCode::OutsideBusinessHours,
                DenyReason::OutsideBusinessHours,
            ),
            (DenyCode::NoCard, DenyReason::NoCard),
            (DenyCode::CardRemoved, DenyReason::CardRemoved),
            (DenyCode::ReaderUnavailable, DenyReason::ReaderUnavailable),
            (
                DenyCode::RevocationListStale,
                DenyReason::RevocationListStale,
            ),
            (
                DenyCode::RevocationListUnavailable,
                DenyReason::RevocationListUnavailable,
            ),
            (
                DenyCode::RegisterUnavailable,
                DenyReason::RegisterUnavailable,
            ),
            (DenyCode::CardError, DenyReason::CardError),
            (DenyCode::AuditUnavailable, DenyReason::AuditUnavailable),
        ] {
            assert_eq!(deny_reason(code), reason, "{code:?}");
        }
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
        let revoked = |reason| LoginError::Revoked {
            reason,
            revoked_at: 0,
        };
        assert_eq!(
            login_error_code(&revoked(RevocationReason::Returned)),
            DenyCode::Returned
        );
        assert_eq!(
            login_error_code(&revoked(RevocationReason::Lost)),
            DenyCode::Revoked
        );
    }
}
