//! The review of card use, record by record in time order across logs: sessions (a login,
//! its locks and unlocks, its end), when they happened (business hours, national holidays,
//! closed days), who was where at once, which cards should not have been used, and the
//! counts per operator and terminal.
//!
//! An unlock is the continuation of its session, never a new login: the daemon records it as
//! `session_unlocked` (and, before it did, as a `login_granted` of the same card on the
//! terminal whose session was locked; both are read as an unlock).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::bursts::{self, Bursts};
use super::findings::{
    Detail, Finding, FindingKind, NeverEnded, NeverIssuedBasis, RecordRef, Withdrawal,
};
use super::{Counts, NoteRow, Report, ReportOptions};
use crate::record::{DenyReason, EndReason, Event, Record, Timestamp};
use cardgate_card::RevocationReason;
use cardgate_office::calendar::DayOff;

struct Session {
    login: RecordRef,
    start: Timestamp,
    operator: Option<String>,
    card: Option<String>,
    locked: bool,
}

/// Builds the report while reading records in time order.
pub(crate) struct Reviewer<'a> {
    options: &'a ReportOptions,
    pub report: Report,
    findings: Vec<Finding>,
    /// Open sessions by (terminal, card): the card that opened a session is the one that
    /// locks, unlocks and ends it, and one terminal may hold a locked session of one card
    /// and an active one of another.
    sessions: BTreeMap<(String, String), Session>,
    withdrawn: HashMap<String, (Withdrawal, Timestamp, RecordRef)>,
    /// Cards issued in the logs so far.
    issued_in_log: BTreeSet<String>,
    /// Cards found never issued (once each).
    never_issued_seen: BTreeSet<String>,
    /// Without a register: a card's first use with no issue read yet, kept until the end (an
    /// issue later in the merge, in any log, withdraws it), one per card.
    never_issued_pending: BTreeMap<String, Finding>,
    pin_bursts: Bursts,
    denial_bursts: Bursts,
}

/// A session's key: its terminal and its card (the operator, for a record without a card).
fn session_key(terminal: &str, r: &Record) -> (String, String) {
    let who = match (&r.card, &r.operator) {
        (Some(c), _) => c.to_string(),
        (None, Some(o)) => format!("operator {o}"),
        (None, None) => "-".to_owned(),
    };
    (terminal.to_owned(), who)
}

fn text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl<'a> Reviewer<'a> {
    pub fn new(options: &'a ReportOptions) -> Self {
        Reviewer {
            options,
            report: Report::default(),
            findings: Vec::new(),
            sessions: BTreeMap::new(),
            withdrawn: HashMap::new(),
            issued_in_log: BTreeSet::new(),
            never_issued_seen: BTreeSet::new(),
            never_issued_pending: BTreeMap::new(),
            pin_bursts: Bursts::new(FindingKind::FailedPinBurst, options.pin_burst),
            denial_bursts: Bursts::new(FindingKind::DenialBurst, options.denial_burst),
        }
    }

    /// Notes that a card was issued in a log reviewed: a use of it before (in the merge) is
    /// not a card never issued.
    fn issued(&mut self, card: String) {
        self.never_issued_pending.remove(&card);
        self.issued_in_log.insert(card);
    }

    fn in_period(&self, t: Timestamp) -> bool {
        self.options.from.is_none_or(|f| t >= f) && self.options.to.is_none_or(|to| t < to)
    }

    fn count(&mut self, terminal: &str, operator: Option<&str>, t: Timestamp, f: fn(&mut Counts)) {
        if !self.in_period(t) {
            return;
        }
        f(self
            .report
            .per_terminal
            .entry(terminal.to_owned())
            .or_default());
        f(self
            .report
            .per_operator
            .entry(operator.unwrap_or("-").to_owned())
            .or_default());
    }

    /// Keeps a finding whose time is in the period, and counts it.
    fn flag(&mut self, f: Finding) {
        if !f.time.is_some_and(|t| self.in_period(t)) {
            return;
        }
        let bump: Option<fn(&mut Counts)> = match f.kind {
            FindingKind::RevokedCardPresented
            | FindingKind::UnknownCardPresented
            | FindingKind::CardNeverIssued => Some(|c| c.bad_cards += 1),
            FindingKind::OutsideBusinessHours => Some(|c| c.outside_hours += 1),
            FindingKind::OnNationalHoliday | FindingKind::OnClosedDay => {
                Some(|c| c.on_days_off += 1)
            }
            FindingKind::CardOnTwoTerminals | FindingKind::OperatorOnTwoTerminals => {
                Some(|c| c.on_two_terminals += 1)
            }
            FindingKind::UseAfterReturn => Some(|c| c.after_withdrawal += 1),
            FindingKind::SessionNeverEnded => Some(|c| c.never_ended += 1),
            _ => None,
        };
        if let (Some(bump), Some(terminal)) = (bump, f.terminal.clone()) {
            let operator = f.operator.clone();
            bump(self.report.per_terminal.entry(terminal).or_default());
            bump(
                self.report
                    .per_operator
                    .entry(operator.unwrap_or_else(|| "-".into()))
                    .or_default(),
            );
        }
        self.findings.push(f);
    }

    fn finding(
        kind: FindingKind,
        detail: Detail,
        terminal: &str,
        r: &Record,
        at: RecordRef,
    ) -> Finding {
        let mut f = Finding::new(kind, detail);
        f.terminal = Some(terminal.to_owned());
        f.card = r.card.map(|c| c.to_string());
        f.operator = r.operator.as_ref().map(|o| o.as_str().to_owned());
        f.time = Some(r.time);
        f.records = vec![at];
        f
    }

    /// When a session happened: a national holiday or closed day at its start (the whole
    /// day is off), else outside business hours.
    fn when(&mut self, terminal: &str, s: &Session, end: Option<(Timestamp, RecordRef)>) {
        let offset = self.options.utc_offset;
        let date = s.start.to_datetime().map(|d| d.to_offset(offset).date());
        let base = |kind, detail| {
            let mut f = Finding::new(kind, detail);
            f.terminal = Some(terminal.to_owned());
            f.card = s.card.clone();
            f.operator = s.operator.clone();
            f.time = Some(s.start);
            f.until = end.as_ref().map(|e| e.0);
            f.records = std::iter::once(s.login.clone())
                .chain(end.as_ref().map(|e| e.1.clone()))
                .collect();
            f
        };
        match date.and_then(|d| self.options.calendar.day_off(d)) {
            Some(DayOff::Holiday(holiday)) => {
                return self.flag(base(
                    FindingKind::OnNationalHoliday,
                    Detail::Holiday { holiday },
                ))
            }
            Some(DayOff::Closed { date, reason }) => {
                return self.flag(base(
                    FindingKind::OnClosedDay,
                    Detail::ClosedDay { date, reason },
                ))
            }
            None => {}
        }
        let inside = match &end {
            Some((e, _)) => self.options.covers(s.start, *e),
            None => self.options.inside(s.start),
        };
        if !inside {
            self.flag(base(
                FindingKind::OutsideBusinessHours,
                Detail::Hours {
                    ended: end.as_ref().map(|e| e.0),
                },
            ));
        }
    }

    fn close(&mut self, key: &(String, String), end: Result<(Timestamp, RecordRef), NeverEnded>) {
        let Some(s) = self.sessions.remove(key) else {
            return;
        };
        let terminal = key.0.as_str();
        match end {
            Ok(end) => self.when(terminal, &s, Some(end)),
            Err(why) => {
                self.when(terminal, &s, None);
                let mut f =
                    Finding::new(FindingKind::SessionNeverEnded, Detail::NeverEnded { why });
                f.terminal = Some(terminal.to_owned());
                f.card = s.card;
                f.operator = s.operator;
                f.time = Some(s.start);
                f.records = vec![s.login];
                self.flag(f);
            }
        }
    }

    fn after_withdrawal(&mut self, terminal: &str, r: &Record, at: &RecordRef, refused: bool) {
        let Some(card) = r.card.map(|c| c.to_string()) else {
            return;
        };
        let withdrawn = self.withdrawn.get(&card).cloned();
        let (how, when, record) = match withdrawn {
            Some((how, when, record)) => (how, Some(when), Some(record)),
            // Refused as returned, with the return in no log reviewed (the register says so).
            None if refused => (Withdrawal::Returned, None, None),
            None => return,
        };
        let mut f = Self::finding(
            FindingKind::UseAfterReturn,
            Detail::AfterWithdrawal {
                how,
                at: when,
                record: record.clone(),
                refused,
            },
            terminal,
            r,
            at.clone(),
        );
        if let Some(record) = record {
            f.records.insert(0, record);
        }
        self.flag(f);
    }

    /// A card used (presented on a terminal) that was never issued: once per card.
    fn check_issued(&mut self, terminal: &str, r: &Record, at: &RecordRef) {
        let Some(card) = r.card.map(|c| c.to_string()) else {
            return;
        };
        if self.never_issued_seen.contains(&card) {
            return;
        }
        let basis = match &self.options.register {
            Some(register) if !register.contains(&card) => NeverIssuedBasis::NotInRegister,
            Some(_) => return,
            None if !self.issued_in_log.contains(&card) => NeverIssuedBasis::NoIssueRecord,
            None => return,
        };
        if !self.in_period(r.time) {
            return;
        }
        self.never_issued_seen.insert(card.clone());
        let f = Self::finding(
            FindingKind::CardNeverIssued,
            Detail::NeverIssued { basis },
            terminal,
            r,
            at.clone(),
        );
        match basis {
            NeverIssuedBasis::NotInRegister => self.flag(f),
            // Its issue may come later in the merge (another log, written later).
            NeverIssuedBasis::NoIssueRecord => {
                self.never_issued_pending.insert(card, f);
            }
        }
    }

    fn two_terminals(&mut self, terminal: &str, r: &Record, at: &RecordRef) {
        let card = r.card.map(|c| c.to_string());
        let operator = r.operator.as_ref().map(|o| o.as_str().to_owned());
        let elsewhere = |same: &dyn Fn(&Session) -> bool| {
            self.sessions
                .iter()
                .filter(|((t, _), s)| t.as_str() != terminal && same(s))
                .map(|((t, _), s)| (t.clone(), s.start, s.login.clone(), s.card.clone()))
                .min_by_key(|x| x.1)
        };
        let by_card = card
            .as_ref()
            .and_then(|c| elsewhere(&|s| s.card.as_ref() == Some(c)));
        let (kind, other) = match by_card {
            Some(o) => (FindingKind::CardOnTwoTerminals, o),
            None => match operator
                .as_ref()
                .and_then(|o| elsewhere(&|s| s.operator.as_ref() == Some(o)))
            {
                Some(o) => (FindingKind::OperatorOnTwoTerminals, o),
                None => return,
            },
        };
        let (other_terminal, other_since, other_record, other_card) = other;
        let mut f = Self::finding(
            kind,
            Detail::TwoTerminals {
                other_terminal,
                other_since,
                other_record: other_record.clone(),
                other_card,
            },
            terminal,
            r,
            at.clone(),
        );
        f.records.insert(0, other_record);
        self.flag(f);
    }

    fn login(&mut self, terminal: String, r: &Record, at: RecordRef) {
        let card = r.card.map(|c| c.to_string());
        // The daemon once recorded an unlock as a login of the same card: the locked
        // session goes on.
        let key = session_key(&terminal, r);
        if let Some(s) = self.sessions.get_mut(&key) {
            if s.locked && card.is_some() {
                s.locked = false;
                self.after_withdrawal(&terminal, r, &at, false);
                return;
            }
        }
        self.close(&key, Err(NeverEnded::Superseded));
        let operator = r.operator.as_ref().map(|o| o.as_str().to_owned());
        self.count(&terminal, operator.as_deref(), r.time, |c| c.logins += 1);
        if self.in_period(r.time) {
            if let Some(d) = r.time.to_datetime() {
                let day = d.to_offset(self.options.utc_offset).date().to_string();
                *self.report.logins_per_day.entry(day).or_default() += 1;
            }
        }
        self.check_issued(&terminal, r, &at);
        self.after_withdrawal(&terminal, r, &at, false);
        self.two_terminals(&terminal, r, &at);
        self.sessions.insert(
            key,
            Session {
                login: at,
                start: r.time,
                operator,
                card,
                locked: false,
            },
        );
    }

    fn burst_event(&self, terminal: &str, r: &Record, at: &RecordRef) -> bursts::Event {
        bursts::Event {
            time: r.time,
            record: at.clone(),
            terminal: terminal.to_owned(),
            card: r.card.map(|c| c.to_string()),
            operator: r.operator.as_ref().map(|o| o.as_str().to_owned()),
        }
    }

    /// Takes the next record of the log `log` (records in time order across logs), about
    /// the terminal `terminal`.
    pub fn feed(&mut self, log: &str, terminal: String, r: &Record) {
        let t = r.time;
        let operator = r.operator.as_ref().map(|o| o.as_str().to_owned());
        let at = RecordRef {
            log: log.to_owned(),
            seq: r.seq,
        };
        if self.in_period(t) {
            self.report.records += 1;
        }
        match &r.event {
            Event::LoginGranted { .. } => self.login(terminal, r, at),
            Event::SessionLocked { .. } => {
                if let Some(s) = self.sessions.get_mut(&session_key(&terminal, r)) {
                    s.locked = true;
                }
            }
            Event::SessionUnlocked => {
                if let Some(s) = self.sessions.get_mut(&session_key(&terminal, r)) {
                    s.locked = false;
                }
                self.after_withdrawal(&terminal, r, &at, false);
            }
            Event::SessionEnded { reason, .. } => {
                // Ended because its screen would not lock: the operator's work is gone, and
                // the terminal's locker (or logind) needs looking at.
                if matches!(reason, EndReason::LockFailed | EndReason::LockNotConfirmed) {
                    self.flag(Self::finding(
                        FindingKind::LockNotHeld,
                        Detail::None,
                        &terminal,
                        r,
                        at.clone(),
                    ));
                }
                self.close(&session_key(&terminal, r), Ok((t, at)))
            }
            Event::LoginDenied { reason } => {
                self.count(&terminal, operator.as_deref(), t, |c| c.denied += 1);
                // An attempt the daemon refused for the hours (`[business_hours]`): someone
                // tried to work then. The record names the card when the daemon could read
                // its certificate.
                if *reason == DenyReason::OutsideBusinessHours {
                    self.flag(Self::finding(
                        FindingKind::OutsideBusinessHours,
                        Detail::None,
                        &terminal,
                        r,
                        at.clone(),
                    ));
                }
                // A wrong PIN is a burst of wrong PINs; counted once.
                if *reason != DenyReason::WrongPin && self.in_period(t) {
                    let e = self.burst_event(&terminal, r, &at);
                    self.denial_bursts.feed(e);
                }
            }
            Event::PinVerified { correct: false, .. } => {
                self.count(&terminal, operator.as_deref(), t, |c| c.failed_pins += 1);
                self.check_issued(&terminal, r, &at);
                if self.in_period(t) {
                    let e = self.burst_event(&terminal, r, &at);
                    self.pin_bursts.feed(e);
                }
            }
            Event::PinBlocked => self.count(&terminal, operator.as_deref(), t, |c| c.lockouts += 1),
            // A returned card presented: the daemon refused it; an attempt at use after
            // return all the same.
            Event::RevokedCardPresented {
                reason: RevocationReason::Returned,
            } if r.card.is_some() => self.after_withdrawal(&terminal, r, &at, true),
            Event::RevokedCardPresented { reason } => {
                self.flag(Self::finding(
                    FindingKind::RevokedCardPresented,
                    Detail::Revoked {
                        reason: reason.as_str().to_owned(),
                    },
                    &terminal,
                    r,
                    at,
                ));
            }
            Event::CertificateRejected { reason } => self.flag(Self::finding(
                FindingKind::UnknownCardPresented,
                Detail::CertificateRejected {
                    reason: text(reason),
                },
                &terminal,
                r,
                at,
            )),
            Event::CardReturned { .. } => {
                if let Some(c) = r.card {
                    self.withdrawn
                        .insert(c.to_string(), (Withdrawal::Returned, t, at));
                }
            }
            Event::CardRevoked { .. } => {
                if let Some(c) = r.card {
                    self.withdrawn
                        .insert(c.to_string(), (Withdrawal::Revoked, t, at));
                }
            }
            Event::CardIssued { .. } => {
                if let Some(c) = r.card {
                    let c = c.to_string();
                    self.withdrawn.remove(&c);
                    self.issued(c);
                }
            }
            Event::Note {
                note,
                text,
                who,
                escort,
                by,
            } if self.in_period(t) => {
                self.report.notes.push(NoteRow {
                    seq: r.seq,
                    log: log.to_owned(),
                    time: t,
                    register: note.as_str(),
                    text: text.as_str().to_owned(),
                    who: who.as_ref().map(|w| w.as_str().to_owned()),
                    escort: escort.as_ref().map(|w| w.as_str().to_owned()),
                    by: by.as_ref().map(|b| b.as_str().to_owned()),
                });
            }
            Event::PukRejected { by, tries_left } => self.flag(Self::finding(
                FindingKind::PukRejected,
                Detail::Puk {
                    by: by.as_str().to_owned(),
                    tries_left: Some(*tries_left),
                },
                &terminal,
                r,
                at,
            )),
            Event::PukBlocked { by } => self.flag(Self::finding(
                FindingKind::PukRejected,
                Detail::Puk {
                    by: by.as_str().to_owned(),
                    tries_left: None,
                },
                &terminal,
                r,
                at,
            )),
            Event::ManagerRefused {
                by,
                reason,
                tries_left,
            } => self.flag(Self::finding(
                FindingKind::ManagerRefused,
                Detail::ManagerRefused {
                    by: by.as_str().to_owned(),
                    reason: text(reason),
                    tries_left: *tries_left,
                },
                &terminal,
                r,
                at,
            )),
            Event::ReaderServiceLost => self.flag(Self::finding(
                FindingKind::ReaderServiceLost,
                Detail::None,
                &terminal,
                r,
                at,
            )),
            _ => {}
        }
    }

    /// What the review holds besides its output (the findings, notes and counts it reports):
    /// open sessions, withdrawn cards, cards issued and found never issued, and the bursts'
    /// events and records. For the bound's test.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        let (a, b) = self.pin_bursts.held();
        let (c, d) = self.denial_bursts.held();
        self.sessions.len()
            + self.withdrawn.len()
            + self.issued_in_log.len()
            + self.never_issued_seen.len()
            + self.never_issued_pending.len()
            + a
            + b
            + c
            + d
    }

    /// Adds a finding made outside the walk (gaps, verification, checkpoint).
    pub fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// Ends the review: sessions still open are never ended; findings in report order.
    pub fn finish(mut self) -> (Report, Vec<Finding>) {
        let open: Vec<(String, String)> = self.sessions.keys().cloned().collect();
        for key in open {
            self.close(&key, Err(NeverEnded::OpenAtEnd));
        }
        for (_, f) in std::mem::take(&mut self.never_issued_pending) {
            self.flag(f);
        }
        let pin = std::mem::replace(
            &mut self.pin_bursts,
            Bursts::new(FindingKind::FailedPinBurst, self.options.pin_burst),
        );
        let denial = std::mem::replace(
            &mut self.denial_bursts,
            Bursts::new(FindingKind::DenialBurst, self.options.denial_burst),
        );
        self.findings.extend(pin.finish());
        self.findings.extend(denial.finish());
        (self.report, self.findings)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::record::{Digest, Label};
    use cardgate_card::{CardSerial, Role};

    /// A record of card use at `ms` after 09:00 JST on Monday 2026-06-01.
    fn record(seq: u64, ms: i64, terminal: usize, card: u64, event: Event) -> Record {
        Record {
            seq,
            time: Timestamp(Timestamp::parse("2026-06-01T00:00:00.000Z").unwrap().0 + ms),
            terminal: Label::new(format!("juki-{terminal:02}")).unwrap(),
            reader: Some(Label::new("r").unwrap()),
            card: Some(CardSerial(card.to_be_bytes())),
            operator: Some(Label::new(format!("op-{card}")).unwrap()),
            uid: None,
            event,
            prev: Digest::default(),
        }
    }

    /// Feeds `rounds` rounds over 10 terminals and 20 cards: a wrong PIN, a denial, a login, a
    /// lock, an unlock and a logout per card, the cards moving between terminals; returns
    /// what the reviewer holds and how many findings it makes.
    fn run(rounds: u64) -> (usize, usize) {
        let options = ReportOptions::default();
        let mut reviewer = Reviewer::new(&options);
        let mut seq = 0;
        let mut ms = 0;
        let mut feed = |reviewer: &mut Reviewer, terminal, card, event| {
            seq += 1;
            ms += 1;
            let r = record(seq, ms, terminal, card, event);
            let place = r.terminal.as_str().to_owned();
            reviewer.feed("/log", place, &r);
        };
        for round in 0..rounds {
            for card in 0..20u64 {
                let t = ((card + round) % 10) as usize;
                feed(
                    &mut reviewer,
                    t,
                    card,
                    Event::PinVerified {
                        correct: false,
                        tries_left: Some(2),
                    },
                );
                feed(
                    &mut reviewer,
                    t,
                    card,
                    Event::LoginDenied {
                        reason: DenyReason::CardRevoked,
                    },
                );
                feed(
                    &mut reviewer,
                    t,
                    card,
                    Event::LoginGranted {
                        role: Role::Operator,
                    },
                );
                feed(
                    &mut reviewer,
                    t,
                    card,
                    Event::SessionLocked {
                        reason: crate::record::LockReason::CardRemoved,
                        session_type: None,
                        locked_hint: None,
                    },
                );
                feed(&mut reviewer, t, card, Event::SessionUnlocked);
                feed(
                    &mut reviewer,
                    t,
                    card,
                    Event::SessionEnded {
                        reason: EndReason::Logout,
                        session_type: None,
                        logind_state: None,
                    },
                );
            }
        }
        let held = reviewer.held();
        let (_, findings) = reviewer.finish();
        (held, findings.len())
    }

    // What the review keeps is bounded by cards, terminals and the bursts' caps, not by the
    // records: 36,000 records and 240,000 hold the same, and make the same findings (each
    // card's bursts of wrong PINs and denials, never issued once each). A burst holds at
    // most its first 256 records (10 rounds: fewer, all of them).
    #[test]
    fn the_reviewers_state_does_not_grow_with_the_records() {
        let (few, _) = run(10);
        let small = run(300);
        let large = run(2000);
        assert!(few < small.0, "{few} {small:?}");
        assert_eq!(
            small, large,
            "(held, findings) after 36,000 and 240,000 records"
        );
        let bursts = 2 * (20 + 10);
        assert_eq!(large.0, bursts * bursts::MAX_BURST_RECORDS + 20 + 20);
        // 20 cards never issued; one burst of wrong PINs and one of denials per card (the
        // terminals' bursts are of several cards each: 10 of each).
        assert_eq!(large.1, 20 + 2 * 20 + 2 * 10, "{large:?}");
    }
}
