//! Step 1 of the contract's login (and of a PIN change): SELECT and the certificate checks,
//! before any secret goes near the card.

use super::*;

/// Why a certificate that did not parse or verify was rejected (a malformed one is not a
/// forged signature).
fn cert_rejection(e: &cardgate_card::cert::CertError) -> CertRejection {
    use cardgate_card::cert::CertError;
    match e {
        CertError::BadSignature => CertRejection::BadSignature,
        CertError::UnknownIssuer(_) => CertRejection::UnknownIssuer,
        CertError::InvertedValidity
        | CertError::BadDate
        | CertError::BadRole(_)
        | CertError::BadOperatorId
        | CertError::BadCardKey
        | CertError::Structure(_) => CertRejection::Malformed,
        _ => CertRejection::Other,
    }
}

/// What to record and say when the card crate refused a presented card before any PIN.
fn presented_refusal(e: &LoginError) -> (Option<Event>, Answer) {
    let code = login_error_code(e);
    match e {
        LoginError::Revoked {
            reason: RevocationReason::Returned,
            ..
        } => (
            Some(Event::RevokedCardPresented {
                reason: RevocationReason::Returned,
            }),
            denied(code, "this card has been returned to the access manager"),
        ),
        LoginError::Revoked { reason, .. } => (
            Some(Event::RevokedCardPresented { reason: *reason }),
            denied(code, format!("this card has been revoked ({reason})")),
        ),
        LoginError::Expired { valid_until } => (
            Some(Event::CertificateRejected {
                reason: CertRejection::Expired,
            }),
            denied(code, format!("this card expired on {valid_until}")),
        ),
        LoginError::NotYetValid { valid_from } => (
            Some(Event::CertificateRejected {
                reason: CertRejection::NotYetValid,
            }),
            denied(code, format!("this card is not valid before {valid_from}")),
        ),
        LoginError::UnknownIssuer => (
            Some(Event::CertificateRejected {
                reason: CertRejection::UnknownIssuer,
            }),
            denied(code, "this card was not issued for this office"),
        ),
        LoginError::BadCertificate(e) => (
            Some(Event::CertificateRejected {
                reason: cert_rejection(e),
            }),
            denied(code, "this card's certificate is invalid"),
        ),
        LoginError::NotOperatorCard => (None, denied(code, "this is not an operator card")),
        // A blank card, or an OpenPGP card that gpg or a vendor's tool personalised: it
        // works as a card, so say plainly what it lacks.
        LoginError::NotPersonalised => (
            None,
            denied(
                code,
                "this card was not issued by cardgate: it holds no operator certificate",
            ),
        ),
        LoginError::CardRemoved => (None, denied(code, "the card was removed during login")),
        _ => (
            None,
            denied(DenyCode::CardError, "the card did not answer as expected"),
        ),
    }
}

impl Engine {
    /// SELECT and the certificate checks. A refusal is recorded (naming the card and its
    /// holder when the certificate could be read: the review counts revoked and foreign cards
    /// per holder), gated like every refusal before a PIN.
    pub(super) fn present(
        &self,
        card: &mut OperatorCard<&mut dyn CardTransport>,
        asker: &Asker<'_>,
        list: &RevocationList,
    ) -> Result<Certificate, Decision> {
        let base = asker.entry(Event::CardInserted);
        let cert = match card.select() {
            Ok(Some(cert)) => cert,
            Ok(None) => {
                return Err(self.refuse_presented(asker, None, &LoginError::NotPersonalised, base))
            }
            Err(e) => return Err(self.refuse_presented(asker, None, &LoginError::from(e), base)),
        };
        let policy = LoginPolicy {
            issuer: &self.issuer,
            revocation: list,
            today: self.today(),
        };
        match check_certificate_memo(&cert, &policy, &self.verified) {
            Ok(()) => Ok(cert),
            Err(e) => {
                let named = base
                    .card(cert.body.serial)
                    .operator(label(&cert.body.operator_id));
                Err(self.refuse_presented(asker, Some(cert.body.serial), &e, named))
            }
        }
    }

    /// Records why a presented card was refused before any PIN, and answers.
    fn refuse_presented(
        &self,
        asker: &Asker<'_>,
        card: Option<CardSerial>,
        e: &LoginError,
        base: Entry,
    ) -> Decision {
        let (event, answer) = presented_refusal(e);
        let code = login_error_code(e);
        let reason = deny_reason(code);
        let entries = event
            .into_iter()
            .chain([Event::LoginDenied { reason }])
            .map(|ev| Entry {
                event: ev,
                ..base.clone()
            })
            .collect();
        self.refuse(asker, card, code, entries, answer)
    }
}
