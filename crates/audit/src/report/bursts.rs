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

/// Most records one burst's finding lists (its count is exact): a burst of ten thousand wrong
/// PINs is one finding of bounded size.
pub const MAX_BURST_RECORDS: usize = 256;

/// A value all of a burst's events share, or not.
#[derive(Debug, Clone)]
struct Same {
    value: Option<String>,
    mixed: bool,
}

impl Same {
    fn new(value: &Option<String>) -> Self {
        Same {
            value: value.clone(),
            mixed: false,
        }
    }

    fn see(&mut self, value: &Option<String>) {
        if !self.mixed && self.value != *value {
            self.mixed = true;
            self.value = None;
        }
    }

    fn get(&self) -> Option<String> {
        self.value.clone().filter(|_| !self.mixed)
    }
}

/// A burst being extended, in bounded space: its first and last times, how many events, the
/// first [`MAX_BURST_RECORDS`] records, and what its events all share.
#[derive(Debug, Clone)]
struct Open {
    first: Timestamp,
    last: Timestamp,
    count: u64,
    records: Vec<RecordRef>,
    terminal: Same,
    card: Same,
    operator: Same,
}

impl Open {
    fn of(events: impl Iterator<Item = Event>) -> Option<Self> {
        let mut open: Option<Open> = None;
        for e in events {
            match &mut open {
                Some(o) => o.push(e),
                None => {
                    open = Some(Open {
                        first: e.time,
                        last: e.time,
                        count: 1,
                        terminal: Same::new(&Some(e.terminal.clone())),
                        card: Same::new(&e.card),
                        operator: Same::new(&e.operator),
                        records: vec![e.record],
                    })
                }
            }
        }
        open
    }

    fn push(&mut self, e: Event) {
        self.last = e.time;
        self.count += 1;
        self.terminal.see(&Some(e.terminal));
        self.card.see(&e.card);
        self.operator.see(&e.operator);
        if self.records.len() < MAX_BURST_RECORDS {
            self.records.push(e.record);
        }
    }
}

/// One card's or one terminal's events: the last events within the window (fewer than the
/// threshold's count: when they reach it they open a burst), and the burst being extended.
#[derive(Default)]
struct Track {
    window: VecDeque<Event>,
    open: Option<Open>,
}

/// Collects events of one kind and makes their bursts.
pub(crate) struct Bursts {
    kind: FindingKind,
    threshold: Threshold,
    tracks: BTreeMap<(u8, String), Track>,
    done: Vec<(BurstScope, Open)>,
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
        let count = self.threshold.count.max(1) as usize;
        let tag = match scope {
            BurstScope::Card => 0,
            BurstScope::Terminal => 1,
        };
        let track = self.tracks.entry((tag, key)).or_default();
        // A burst goes on while each event comes within the window of the one before.
        if let Some(open) = &mut track.open {
            if e.time.0 - open.last.0 <= window {
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
            track.open = Open::of(track.window.drain(..));
        }
    }

    /// Events and bursts held (for the bound's test): the windows' events, and the bursts.
    #[cfg(test)]
    pub fn held(&self) -> (usize, usize) {
        let events = self.tracks.values().map(|t| t.window.len()).sum();
        let records = self
            .tracks
            .values()
            .filter_map(|t| t.open.as_ref())
            .chain(self.done.iter().map(|(_, o)| o))
            .map(|o| o.records.len())
            .sum();
        (events, records)
    }

    /// The bursts found. A terminal's burst made of one card's events only is that card's
    /// burst, reported once (as the card's): every such burst lies within a burst of that
    /// card, which saw the same events and perhaps more.
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
        let mut out = Vec::new();
        for (scope, burst) in self.done {
            if scope == BurstScope::Terminal && burst.card.get().is_some() {
                continue;
            }
            let mut f = Finding::new(
                self.kind,
                Detail::Burst {
                    scope,
                    count: u32::try_from(burst.count).unwrap_or(u32::MAX),
                    window_minutes: self.threshold.minutes,
                },
            );
            f.time = Some(burst.first);
            f.until = Some(burst.last);
            f.terminal = burst.terminal.get();
            f.card = burst.card.get();
            f.operator = burst.operator.get();
            f.records = burst.records;
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
