//! How many refusal records one local user can cause.
//!
//! Every probe of the login socket used to write an fdatasync'ed record: one user could fill
//! the audit disk, or write hundreds of refusals naming a colleague whose card sat in the
//! reader. Refusals made before any secret reaches the card (no card, another's card, a
//! revoked or foreign card, outside hours, a stale list) now pass through this gate:
//! - the same refusal (same requesting uid, user, reader, card and reason) is written once per
//!   window;
//! - each (uid, user) may write at most `per_user` refusals per window, and everyone together
//!   at most `total`;
//! - what was held back is not lost: at the end of the window one `denials_suppressed` record
//!   per (uid, user) says how many were held back since when.
//!
//! Wrong PINs are not gated: each one spends a try on the card, so the card bounds them, and
//! each is a card use that must be recorded (art. 7).

use cardgate_card::cert::CardSerial;
use std::collections::{HashMap, HashSet};

/// One refusal, as far as repetition is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DenialKey {
    /// The requesting uid (SO_PEERCRED).
    pub uid: u32,
    /// The user the request was for.
    pub user: String,
    /// The reader.
    pub reader: String,
    /// The card, when it could be read.
    pub card: Option<CardSerial>,
    /// Why (the refusal's kind and reason, as text).
    pub reason: String,
}

/// Refusals held back for one (uid, user) in a window that has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The requesting uid.
    pub uid: u32,
    /// The user the requests were for.
    pub user: String,
    /// How many refusals were not written.
    pub count: u64,
    /// When the first of them came (Unix milliseconds).
    pub since_ms: i64,
}

#[derive(Debug, Default)]
struct Held {
    count: u64,
    since_ms: i64,
}

/// The gate's state for the current window.
#[derive(Debug)]
pub struct DenialGate {
    window_ms: i64,
    per_user: u32,
    total: u32,
    started_ms: Option<i64>,
    seen: HashSet<DenialKey>,
    written: HashMap<(u32, String), u32>,
    written_total: u32,
    held: HashMap<(u32, String), Held>,
}

impl DenialGate {
    /// A gate with windows of `window_seconds`, `per_user` refusals per (uid, user) and
    /// `total` for everyone per window.
    pub fn new(window_seconds: u64, per_user: u32, total: u32) -> Self {
        DenialGate {
            window_ms: i64::try_from(window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            per_user,
            total,
            started_ms: None,
            seen: HashSet::new(),
            written: HashMap::new(),
            written_total: 0,
            held: HashMap::new(),
        }
    }

    /// Ends the window if it is over; returns what it held back (to be recorded).
    pub fn roll(&mut self, now_ms: i64) -> Vec<Suppressed> {
        let over = self
            .started_ms
            .is_some_and(|start| now_ms.saturating_sub(start) >= self.window_ms);
        if !over {
            return Vec::new();
        }
        self.started_ms = None;
        self.seen.clear();
        self.written.clear();
        self.written_total = 0;
        let mut out: Vec<Suppressed> = self
            .held
            .drain()
            .filter(|(_, h)| h.count > 0)
            .map(|((uid, user), h)| Suppressed {
                uid,
                user,
                count: h.count,
                since_ms: h.since_ms,
            })
            .collect();
        out.sort_by(|a, b| (a.since_ms, a.uid, &a.user).cmp(&(b.since_ms, b.uid, &b.user)));
        out
    }

    /// Ends the window now, whatever its age (the daemon stops): what it held back.
    pub fn close(&mut self) -> Vec<Suppressed> {
        match self.started_ms {
            Some(start) => self.roll(start.saturating_add(self.window_ms)),
            None => Vec::new(),
        }
    }

    /// May this refusal be written? When not, it is counted for the window's summary.
    pub fn admit(&mut self, key: DenialKey, now_ms: i64) -> bool {
        if self.started_ms.is_none() {
            self.started_ms = Some(now_ms);
        }
        let who = (key.uid, key.user.clone());
        let written = self.written.get(&who).copied().unwrap_or(0);
        let fresh = !self.seen.contains(&key);
        if fresh && written < self.per_user && self.written_total < self.total {
            self.seen.insert(key);
            self.written.insert(who, written + 1);
            self.written_total += 1;
            return true;
        }
        let held = self.held.entry(who).or_default();
        if held.count == 0 {
            held.since_ms = now_ms;
        }
        held.count = held.count.saturating_add(1);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uid: u32, user: &str, reason: &str) -> DenialKey {
        DenialKey {
            uid,
            user: user.into(),
            reader: "r0".into(),
            card: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_repeated_refusal_is_written_once_per_window_and_counted() {
        let mut g = DenialGate::new(60, 20, 200);
        assert!(g.admit(key(1000, "sato", "card_removed"), 0));
        for t in 1..=99 {
            assert!(!g.admit(key(1000, "sato", "card_removed"), t * 250));
        }
        // A different reason is a different refusal.
        assert!(g.admit(key(1000, "sato", "not_authorised_here"), 30_000));
        assert_eq!(g.roll(59_999), vec![]);
        assert_eq!(
            g.roll(60_000),
            vec![Suppressed {
                uid: 1000,
                user: "sato".into(),
                count: 99,
                since_ms: 250
            }]
        );
        // A new window writes the refusal again.
        assert!(g.admit(key(1000, "sato", "card_removed"), 60_001));
    }

    #[test]
    fn each_user_has_a_budget_and_everyone_together_too() {
        let mut g = DenialGate::new(60, 2, 3);
        let card = |n: u8| DenialKey {
            card: Some(CardSerial([n; 8])),
            ..key(1000, "sato", "card_revoked")
        };
        assert!(g.admit(card(1), 0));
        assert!(g.admit(card(2), 0));
        assert!(!g.admit(card(3), 0), "over sato's budget");
        assert!(g.admit(key(1001, "suzuki", "card_removed"), 0));
        assert!(
            !g.admit(key(1002, "ito", "card_removed"), 0),
            "over the total"
        );
        let held = g.roll(60_000);
        assert_eq!(held.len(), 2);
        assert!(held.iter().all(|h| h.count == 1));
    }
}
