//! The card holder changes the PIN (PAM `chauthtok`: the first-use change, art. 5.5).
//!
//! The same gates as a login: business hours, the revocation list, the register (a returned
//! or revoked card changes nothing), the wrong-PIN back-off of the card and the terminal;
//! and the same records, durable before the answer (a wrong current PIN spends a try on the
//! card: its record is not optional).

use super::*;

impl Engine {
    /// Changes the PIN of the card in the terminal's reader (PAM `chauthtok`, first use), for
    /// the requesting local user `uid`.
    pub fn change_pin(
        &self,
        uid: u32,
        terminal: &str,
        user: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> Answer {
        let reader = match self.reader_of(terminal) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let asker = Asker {
            uid,
            user,
            reader: &reader,
        };
        if self.outside_hours() {
            return self.refuse_at_reader(
                &asker,
                DenyReason::NotAuthorisedHere,
                denied(
                    "outside_business_hours",
                    "the PIN cannot be changed outside business hours",
                ),
            );
        }
        let list = match self.current_list() {
            Ok(l) => l,
            Err(a) => return a,
        };
        if let Err(answer) = self.check_terminal_backoff(terminal) {
            return answer;
        }
        let mut answer = None;
        let result = self.cards.exclusive(&reader, &mut |t| {
            answer = Some(self.change_pin_on_card(t, terminal, &asker, old, new, &list));
        });
        match (result, answer) {
            // When the card left right after its last answer, only the clean-up after the
            // change failed: the card did change the PIN, and the answer must say so.
            (_, Some(a)) => a,
            (Err(e), None) => {
                tracing::warn!(reader = %reader, error = %error_chain(&e), "card operation failed");
                denied("no_card", "insert your operator card")
            }
            (Ok(()), None) => denied("internal", "the card operation did not run"),
        }
    }

    fn change_pin_on_card(
        &self,
        transport: &mut dyn CardTransport,
        terminal: &str,
        asker: &Asker<'_>,
        old: &SecretString,
        new: &SecretString,
        list: &RevocationList,
    ) -> Answer {
        let mut card = OperatorCard::new(transport);
        let cert = match self.present(&mut card, asker, list) {
            Ok(cert) => cert,
            Err(answer) => return answer,
        };
        let serial = cert.body.serial;
        let who = |event| {
            Entry::new(event)
                .reader(label(asker.reader))
                .card(serial)
                .operator(label(&cert.body.operator_id))
                .uid(asker.uid)
        };
        let refusal = |events: Vec<Event>, reason: DenyReason, answer: Answer| {
            self.refuse_card(asker, serial, &who, events, reason, answer)
        };
        if let Err(answer) = self.check_lent(&cert, asker, &refusal) {
            return answer;
        }
        if let Err(answer) = self.check_card_backoff(serial) {
            return answer;
        }
        // A refusal by the policy spends no try: gated like the refusals before the PIN.
        let policy_refusal = |rule: PinRule, answer: Answer| {
            let key = DenialKey {
                uid: asker.uid,
                user: asker.user.to_owned(),
                reader: asker.reader.to_owned(),
                card: Some(serial),
                reason: format!("pin_policy {rule:?}"),
            };
            match self.record_denial(key, vec![who(Event::PinRefusedByPolicy { rule })]) {
                Ok(()) => answer,
                Err(AuditDown) => audit_down(),
            }
        };
        let new_pin = match check_new_pin(new.expose(), Some(&cert.body.operator_id)) {
            Ok(p) => p,
            Err(e) => {
                let rule = pin_rule(&e).unwrap_or(PinRule::BadCharacter);
                return policy_refusal(rule, denied("pin_policy", e.to_string()));
            }
        };
        let old_pin = match Pin::try_from(old) {
            Ok(p) => p,
            Err(e) => {
                return denied(
                    "malformed_pin",
                    format!("the current PIN {e}; no try was used"),
                )
            }
        };
        if cardgate_card::ct_eq(&old_pin.to_wire()[..], &new_pin.to_wire()[..]) {
            return policy_refusal(
                PinRule::SameAsOld,
                denied("pin_policy", PolicyError::SameAsCurrent.to_string()),
            );
        }
        match card.change_pin(&old_pin, &new_pin) {
            Ok(Verification::Verified) => {
                locked(&self.card_backoff).success(&serial);
                locked(&self.terminal_backoff).success(&terminal.to_owned());
                if self.record(who(Event::PinChanged)).is_err() {
                    return audit_down();
                }
                let updated = self.register.update(|r| {
                    if let Some(e) = r.get_mut(&serial) {
                        e.must_change_pin = false;
                    }
                });
                if let Err(e) = updated {
                    // The card has the new PIN; the register still asks for a change, so the
                    // holder will be asked again at the next login. Say so where it is seen.
                    tracing::error!(serial = %serial, error = %e, "the PIN was changed but the card register could not be updated");
                }
                for p in locked(&self.pending)
                    .values_mut()
                    .filter(|p| p.serial == serial)
                {
                    p.must_change_pin = false;
                }
                Answer::Granted {
                    operator: cert.body.operator_id.clone(),
                    serial: serial.to_string(),
                    must_change_pin: false,
                }
            }
            Ok(Verification::Wrong { remaining }) => {
                self.wrong_pin_seen(terminal, serial);
                let mut events = vec![Event::PinVerified {
                    correct: false,
                    tries_left: Some(remaining),
                }];
                if remaining == 0 {
                    events.push(Event::PinBlocked);
                }
                for e in events {
                    if self.record(who(e)).is_err() {
                        return audit_down();
                    }
                }
                if remaining == 0 {
                    denied(
                        "pin_blocked",
                        "wrong current PIN; the card is now blocked. Ask the access manager to unblock it",
                    )
                } else {
                    Answer::Denied {
                        reason: "wrong_pin".into(),
                        tries_left: Some(remaining),
                        message: format!("wrong current PIN; {remaining} tries left"),
                    }
                }
            }
            Ok(Verification::Blocked) => refusal(
                vec![Event::PinBlocked],
                DenyReason::PinBlocked,
                denied(
                    "pin_blocked",
                    "the PIN is blocked; ask the access manager to unblock the card",
                ),
            ),
            Err(e) if e.is_card_gone() => denied(
                "card_removed",
                "the card was removed during the PIN change; if the new PIN is refused, the old one is still in force",
            ),
            Err(_) => denied("card_error", "the card refused the PIN change"),
        }
    }
}
