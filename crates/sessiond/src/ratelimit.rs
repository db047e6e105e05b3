//! Wrong-PIN back-off per card and per terminal, on top of the card's own counter.
//!
//! The card blocks after three wrong PINs, but a PUK-unblocked card, or many cards tried on
//! one terminal, would otherwise allow guessing at machine speed. After `free_failures`
//! wrong PINs for a key, the next attempt must wait `base · 2^(n−free−1)`, capped at `max`.
//! A success clears the key. Time is passed in, so the rules are tested without sleeping.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Back-off state for one kind of key (card serials, or terminal IDs).
#[derive(Debug)]
pub struct Backoff<K> {
    free_failures: u32,
    base: Duration,
    max: Duration,
    failures: HashMap<K, (u32, Instant)>,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    /// New, empty state.
    pub fn new(free_failures: u32, base: Duration, max: Duration) -> Self {
        Backoff {
            free_failures,
            base,
            max,
            failures: HashMap::new(),
        }
    }

    fn delay_after(&self, count: u32) -> Duration {
        if count <= self.free_failures {
            return Duration::ZERO;
        }
        let exp = (count - self.free_failures - 1).min(31);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    /// How long `key` must still wait before its next attempt (zero: go ahead).
    pub fn wait(&self, key: &K, now: Instant) -> Duration {
        match self.failures.get(key) {
            Some(&(count, last)) => {
                let until = last + self.delay_after(count);
                until.saturating_duration_since(now)
            }
            None => Duration::ZERO,
        }
    }

    /// Records a wrong PIN.
    pub fn failure(&mut self, key: K, now: Instant) {
        let entry = self.failures.entry(key).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
    }

    /// Records a success: the key starts afresh.
    pub fn success(&mut self, key: &K) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_after_the_free_failures_and_caps() {
        let t0 = Instant::now();
        let mut b = Backoff::new(1, Duration::from_secs(2), Duration::from_secs(10));
        assert_eq!(b.wait(&"card", t0), Duration::ZERO);
        b.failure("card", t0);
        assert_eq!(b.wait(&"card", t0), Duration::ZERO);
        b.failure("card", t0);
        assert_eq!(b.wait(&"card", t0), Duration::from_secs(2));
        assert_eq!(
            b.wait(&"card", t0 + Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        b.failure("card", t0);
        assert_eq!(b.wait(&"card", t0), Duration::from_secs(4));
        b.failure("card", t0);
        b.failure("card", t0);
        assert_eq!(b.wait(&"card", t0), Duration::from_secs(10));
        assert_eq!(b.wait(&"other", t0), Duration::ZERO);
        b.success(&"card");
        assert_eq!(b.wait(&"card", t0), Duration::ZERO);
    }
}
