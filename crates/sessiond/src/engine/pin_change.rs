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
            terminal,
        };
        let decision = self.decide_pin_change(&asker, terminal, old, new);
        self.commit(decision)
    }

    fn decide_pin_change(
        &self,
        asker: &Asker<'_>,
        terminal: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> Decision {
        let ran = self.on_card(
            asker,
            terminal,
            "the PIN cannot be changed outside business hours",
            &mut |t, list| self.change_pin_on_card(t, terminal, asker, old, new, list),
        );
        match ran {
            Err(refused) => refused,
            // When the card left right after its last answer, only the clean-up after the
            // change failed: the card did change the PIN, and the answer must say so.
            Ok((d, _)) => d,
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
    ) -> Decision {
        let mut card = OperatorCard::new(transport);
        let cert = match self.present(&mut card, asker, list) {
            Ok(cert) => cert,
            Err(d) => return d,
        };
        let serial = cert.body.serial;
        let who = |event| {
            asker
                .entry(event)
                .card(serial)
                .operator(label(&cert.body.operator_id))
                .uid(asker.uid)
        };
        let refusal = |events: Vec<Event>, code: DenyCode, answer: Answer| {
            self.refuse_card(asker, serial, &who, events, code, answer)
        };
        if let Err(d) = self.check_lent(&cert, asker, &refusal) {
            return d;
        }
        if let Err(d) = self.check_card_backoff(serial) {
            return d;
        }
        // A refusal by the policy spends no try: gated like the refusals before the PIN.
        let policy_refusal = |rule: PinRule, message: String| {
            let key = DenialKey {
                uid: asker.uid,
                user: asker.user.to_owned(),
                reader: asker.reader.to_owned(),
                card: Some(serial),
                reason: format!("pin_policy {rule:?}"),
            };
            self.gated(
                key,
                vec![who(Event::PinRefusedByPolicy { rule })],
                denied(DenyCode::PinPolicy, message),
            )
        };
        let new_pin = match check_new_pin(new.expose(), Some(&cert.body.operator_id)) {
            Ok(p) => p,
            Err(e) => {
                let rule = pin_rule(&e);
                return policy_refusal(rule, e.to_string());
            }
        };
        let old_pin = match Pin::try_from(old) {
            Ok(p) => p,
            Err(e) => {
                // No try was spent: gated, like a login's malformed PIN.
                let code = DenyCode::MalformedPin;
                return refusal(
                    vec![],
                    code,
                    denied(code, format!("the current PIN {e}; no try was used")),
                );
            }
        };
        if cardgate_card::ct_eq(&old_pin.to_wire()[..], &new_pin.to_wire()[..]) {
            return policy_refusal(PinRule::SameAsOld, PolicyError::SameAsCurrent.to_string());
        }
        // The card answered (or left while asked): what it did is recorded after its answer,
        // in this request's one batch, before the answer goes out.
        let after = |events: Vec<Event>, answer: Answer| {
            Decision::recording(events.into_iter().map(&who).collect(), answer)
        };
        match card.change_pin(&old_pin, &new_pin) {
            Ok(Verification::Verified) => {
                self.right_pin_seen(terminal, serial);
                let mut d = after(
                    vec![Event::PinChanged],
                    Answer::Granted {
                        operator: cert.body.operator_id.clone(),
                        serial: Serial(serial.0),
                        must_change_pin: false,
                    },
                );
                d.then = Some(Box::new(Then::PinChanged(serial)));
                d
            }
            Ok(Verification::Wrong { remaining }) => {
                self.wrong_pin_seen(terminal, serial);
                let mut events = vec![Event::PinVerified {
                    correct: false,
                    tries_left: Some(remaining),
                }];
                let answer = if remaining == 0 {
                    events.push(Event::PinBlocked);
                    denied(
                        DenyCode::PinBlocked,
                        "wrong current PIN; the card is now blocked. Ask the access manager to unblock it",
                    )
                } else {
                    denied_with_tries(
                        DenyCode::WrongPin,
                        Some(remaining),
                        format!("wrong current PIN; {remaining} tries left"),
                    )
                };
                after(events, answer)
            }
            Ok(Verification::Blocked) => refusal(
                vec![Event::PinBlocked],
                DenyCode::PinBlocked,
                denied(
                    DenyCode::PinBlocked,
                    "the PIN is blocked; ask the access manager to unblock the card",
                ),
            ),
            // The current PIN may have reached the card (a try spent) before it left or
            // failed: recorded, not only answered.
            Err(e) if e.is_card_gone() => after(
                vec![Event::LoginDenied {
                    reason: deny_reason(DenyCode::CardRemoved),
                }],
                denied(
                    DenyCode::CardRemoved,
                    "the card was removed during the PIN change; if the new PIN is refused, the old one is still in force",
                ),
            ),
            Err(_) => after(
                vec![
                    Event::CardAuthFailed {
                        reason: AuthFailure::CardError,
                    },
                    Event::LoginDenied {
                        reason: deny_reason(DenyCode::CardError),
                    },
                ],
                denied(DenyCode::CardError, "the card refused the PIN change"),
            ),
        }
    }

    /// After a PIN change is recorded: the register and the pending logins stop asking for
    /// a change.
    pub(super) fn after_pin_change(&self, serial: CardSerial) {
        let updated = self.register.update(|r| {
            if let Some(e) = r.get_mut(&serial) {
                e.must_change_pin = false;
            }
        });
        if let Err(e) = updated {
            // The card has the new PIN; the register still asks for a change, so the holder
            // will be asked again at the next login. Say so where it is seen.
            tracing::error!(serial = %serial, error = %e, "the PIN was changed but the card register could not be updated");
        }
        for p in locked(&self.pending)
            .values_mut()
            .filter(|p| p.serial == serial)
        {
            p.must_change_pin = false;
        }
    }
}
