//! Bursts of wrong PINs and of denied logins, per card and per terminal: `count` events
//! within `minutes` (`[review]` of `cardgated.toml`), the first sign of a found card being
//! tried, or of someone trying cards at one terminal.

use std::collections::{BTreeMap, VecDeque};

use super::findings::{BurstScope, Detail, Finding, FindingKind, RecordRef};
use crate::record::Timestamp;

/// N events within M minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// How many events (at least 2).
    pub count: u32,
    /// Within how many minutes.
    pub minutes: u32,
}

impl Threshold {
    fn window_ms(self) -> i64 {
        i64::from(self.minutes) * 60_000
    }
}

/// One event that may belong to a burst.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub time: Timestamp,
    pub record: RecordRef,
    pub terminal: String,
    pub card: Option<String>,
    pub operator: Option<String>,
}

#[derive(Default)]
struct Track {
    window: VecDeque<Event>,
    /// The burst being extended: its events.
    open: Option<Vec<Event>>,
}

/// Collects events of one kind and makes their bursts.
pub(crate) struct Bursts {
    kind: FindingKind,
    threshold: Threshold,
    tracks: BTreeMap<(u8, String), Track>,
    done: Vec<(BurstScope, Vec<Event>)>,
}

impl Bursts {
    pub fn new(kind: FindingKind, threshold: Threshold) -> Self {
        Bursts {
            kind,
            threshold,
            tracks: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    /// Takes the next event (in time order).
    pub fn feed(&mut self, e: Event) {
        if let Some(card) = e.card.clone() {
            self.feed_one(BurstScope::Card, card, e.clone());
        }
        self.feed_one(BurstScope::Terminal, e.terminal.clone(), e);
    }

    fn feed_one(&mut self, scope: BurstScope, key: String, e: Event) {
        let window = self.threshold.window_ms();
        let count = self.threshold.count as usize;
        let tag = match scope {
            BurstScope::Card => 0,
            BurstScope::Terminal => 1,
        };
        let track = self.tracks.entry((tag, key)).or_default();
        // A burst goes on while each event comes within the window of the one before.
        if let Some(open) = &mut track.open {
            if open
                .last()
                .is_some_and(|last| e.time.0 - last.time.0 <= window)
            {
                open.push(e);
                return;
            }
            if let Some(finished) = track.open.take() {
                self.done.push((scope, finished));
            }
            track.window.clear();
        }
        track.window.push_back(e);
        while let (Some(first), Some(last)) = (track.window.front(), track.window.back()) {
            if last.time.0 - first.time.0 > window {
                track.window.pop_front();
            } else {
                break;
            }
        }
        if track.window.len() >= count {
            track.open = Some(track.window.drain(..).collect());
        }
    }

    /// The bursts found. A terminal's burst made of one card's events only is that card's
    /// burst, reported once (as the card's).
    pub fn finish(mut self) -> Vec<Finding> {
        for (&(tag, _), track) in self.tracks.iter_mut() {
            if let Some(open) = track.open.take() {
                let scope = if tag == 0 {
                    BurstScope::Card
                } else {
                    BurstScope::Terminal
                };
                self.done.push((scope, open));
            }
        }
        let card_bursts: Vec<Vec<RecordRef>> = self
            .done
            .iter()
            .filter(|(s, _)| *s == BurstScope::Card)
            .map(|(_, events)| events.iter().map(|e| e.record.clone()).collect())
            .collect();
        let mut out = Vec::new();
        for (scope, events) in self.done {
            let records: Vec<RecordRef> = events.iter().map(|e| e.record.clone()).collect();
            if scope == BurstScope::Terminal
                && card_bursts
                    .iter()
                    .any(|c| records.iter().all(|r| c.contains(r)))
            {
                continue;
            }
            let (Some(first), Some(last)) = (events.first(), events.last()) else {
                continue;
            };
            let one = |f: fn(&Event) -> &Option<String>| {
                let v = f(first);
                events
                    .iter()
                    .all(|e| f(e) == v)
                    .then(|| v.clone())
                    .flatten()
            };
            let mut f = Finding::new(
                self.kind,
                Detail::Burst {
                    scope,
                    count: u32::try_from(events.len()).unwrap_or(u32::MAX),
                    window_minutes: self.threshold.minutes,
                },
            );
            f.time = Some(first.time);
            f.until = Some(last.time);
            f.terminal = events
                .iter()
                .all(|e| e.terminal == first.terminal)
                .then(|| first.terminal.clone());
            f.card = one(|e| &e.card);
            f.operator = one(|e| &e.operator);
            f.records = records;
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(minute: i64, seq: u64, terminal: &str, card: &str) -> Event {
        Event {
            time: Timestamp(minute * 60_000),
            record: RecordRef {
                log: "/l".into(),
                seq,
            },
            terminal: terminal.into(),
            card: Some(card.into()),
            operator: None,
        }
    }

    fn bursts(events: Vec<Event>) -> Vec<Finding> {
        let mut b = Bursts::new(
            FindingKind::FailedPinBurst,
            Threshold {
                count: 3,
                minutes: 10,
            },
        );
        for e in events {
            b.feed(e);
        }
        b.finish()
    }

    fn scope(f: &Finding) -> (BurstScope, u32) {
        match f.detail {
            Detail::Burst { scope, count, .. } => (scope, count),
            _ => panic!("not a burst"),
        }
    }

    #[test]
    fn three_within_ten_minutes_is_one_burst_of_the_card_and_two_apart_are_none() {
        let found = bursts(vec![
            at(0, 1, "T1", "c"),
            at(4, 2, "T1", "c"),
            at(9, 3, "T1", "c"),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(scope(&found[0]), (BurstScope::Card, 3));
        assert_eq!(found[0].card.as_deref(), Some("c"));
        assert_eq!(found[0].terminal.as_deref(), Some("T1"));
        let spread = bursts(vec![
            at(0, 1, "T1", "c"),
            at(6, 2, "T1", "c"),
            at(12, 3, "T1", "c"),
        ]);
        assert!(spread.is_empty(), "{spread:?}");
    }

    #[test]
    fn a_card_tried_on_two_terminals_and_cards_tried_on_one_terminal_are_bursts() {
        let found = bursts(vec![
            at(0, 1, "T1", "c"),
            at(1, 2, "T2", "c"),
            at(2, 3, "T1", "c"),
            at(3, 4, "T3", "x"),
            at(3, 5, "T3", "y"),
            at(4, 6, "T3", "z"),
            at(5, 7, "T3", "x"),
        ]);
        let mut scopes: Vec<_> = found
            .iter()
            .map(|f| (scope(f), f.terminal.clone(), f.card.clone()))
            .collect();
        scopes.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(
            scopes,
            vec![
                ((BurstScope::Card, 3), None, Some("c".into())),
                ((BurstScope::Terminal, 4), Some("T3".into()), None),
            ]
        );
    }
}
