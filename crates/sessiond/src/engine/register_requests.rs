//! The register changes the access manager asks the daemon to make, because the manager is
//! not root and the register is not the manager's group's to write (a writable state
//! directory would let the group replace the daemon's own state). Each change needs the
//! evidence that the operation it stands for has just happened: the card itself in its
//! reader, and the access manager's card in the other (art. 5.1: lending is the access
//! manager's). The `card_issued` / `pin_unblocked` record that follows is then checked
//! against the entry as it is for root's own writes: the engine's evidence model is unchanged.
//! A refusal is `Err` with the sentence to answer, naming the card.

use super::admin::{caller, card_role, card_serial};
use super::Engine;
use crate::register::{CardEntry, CardState};
use cardgate_card::Verification;
use cardgate_protocol as wire;

impl Engine {
    /// Lends a card that was issued just now (its certificate starts today) in the register.
    #[allow(clippy::too_many_arguments)]
    pub fn lend_in_register(
        &self,
        uid: u32,
        user: Option<&str>,
        serial: wire::Serial,
        operator: &str,
        role: wire::Role,
        reader: &str,
        manager: wire::Serial,
        manager_reader: String,
    ) -> Result<(), String> {
        let caller = &caller(uid, user);
        let (serial, role) = (card_serial(serial), card_role(role));
        let refuse = |why: String| {
            tracing::warn!(caller, serial = %serial, reason = %why, "lending in the register refused");
            format!("lending card {serial} in the register refused: {why}; nothing was changed")
        };
        self.authorised_by(caller, Some(manager), Some(manager_reader), None)
            .map_err(refuse)?;
        let seen = self.signed_card(serial, reader, false).map_err(refuse)?;
        let Some(cert) = seen.cert else {
            return Err(refuse(format!("the card in {reader:?} is blank")));
        };
        if cert.body.operator_id != operator || cert.body.role != role {
            return Err(refuse(format!(
                "the card's certificate is for {} ({}), not {operator} ({})",
                cert.body.operator_id,
                cert.body.role.as_str(),
                role.as_str()
            )));
        }
        // A card personalised before today is not a card issued just now: a card found in a
        // drawer, or lent by another office, is not lent here by this request.
        if cert.body.valid_from != self.today() {
            return Err(refuse(format!(
                "the card's certificate starts on {}, not today: it was not issued just now",
                cert.body.valid_from
            )));
        }
        if let Some(r) = self.list_in_force().and_then(|l| l.lookup(&serial)) {
            return Err(refuse(format!(
                "the revocation list in force lists the card ({})",
                r.reason
            )));
        }
        let now = self.clock.wall().unix_timestamp();
        let lent = self.register.update(|r| {
            let key = serial.to_string();
            if r.cards.contains_key(&key) {
                return false;
            }
            r.cards.insert(
                key,
                CardEntry::lent(operator, role, now, cert.body.valid_until),
            );
            true
        });
        match lent {
            Ok(true) => {
                tracing::info!(caller, serial = %serial, operator, "card lent in the register");
                Ok(())
            }
            Ok(false) => Err(refuse("the register already knows the card".into())),
            Err(e) => {
                tracing::error!(error = %e, serial = %serial, "the register could not be written");
                Err(format!(
                    "the card register could not be written ({e}); nothing was changed"
                ))
            }
        }
    }

    /// Marks the PIN of a lent card as unblocked just now: its holder must choose a new one.
    pub fn mark_unblocked_in_register(
        &self,
        uid: u32,
        user: Option<&str>,
        serial: wire::Serial,
        reader: &str,
        manager: wire::Serial,
        manager_reader: String,
    ) -> Result<(), String> {
        let caller = &caller(uid, user);
        let serial = card_serial(serial);
        let refuse = |why: String| {
            tracing::warn!(caller, serial = %serial, reason = %why, "marking an unblock refused");
            format!("marking card {serial} unblocked refused: {why}; nothing was changed")
        };
        self.authorised_by(caller, Some(manager), Some(manager_reader), None)
            .map_err(refuse)?;
        let seen = self.signed_card(serial, reader, true).map_err(refuse)?;
        if matches!(seen.pin, Some(Verification::Blocked) | None) {
            return Err(refuse(format!(
                "the PIN of the card in {reader:?} is not shown unblocked"
            )));
        }
        let now = self.clock.wall().unix_timestamp();
        let marked = self.register.update(|r| match r.get_mut(&serial) {
            Some(e) if e.state == CardState::Lent => {
                e.must_change_pin = true;
                e.unblocked_at = Some(now);
                Ok(())
            }
            Some(_) => Err("the card register says the card is no longer lent"),
            None => Err("the card register does not know the card"),
        });
        match marked {
            Ok(Ok(())) => {
                tracing::info!(caller, serial = %serial, "unblocking marked in the register");
                Ok(())
            }
            Ok(Err(why)) => Err(refuse(why.into())),
            Err(e) => {
                tracing::error!(error = %e, serial = %serial, "the register could not be written");
                Err(format!(
                    "the card register could not be written ({e}); nothing was changed"
                ))
            }
        }
    }
}
