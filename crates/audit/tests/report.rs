//! The review: a month of card use on four terminals (two logs), with anomalies planted.
//! The report must find every planted anomaly and flag nothing else, and count right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cardgate_audit::record::{
    CertRejection, DenyReason, EndReason, LockReason, NoteKind, StopReason, Text,
};
use cardgate_audit::report::{render, report_dirs, AnomalyKind, ReportOptions};
use cardgate_audit::{AuditLog, Entry, Event, Timestamp};
use cardgate_card::{RevocationReason, Role};
use common::*;

/// 2026-06-`day` `h`:`m` Japan time. 2026-06-01 is a Monday.
fn jst(day: u8, h: u8, m: u8) -> Timestamp {
    let date = time::Date::from_calendar_date(2026, time::Month::June, day).unwrap();
    let t = date
        .with_hms(h, m, 0)
        .unwrap()
        .assume_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap());
    Timestamp::from_datetime(t)
}

fn is_workday(day: u8) -> bool {
    let date = time::Date::from_calendar_date(2026, time::Month::June, day).unwrap();
    date.weekday().number_days_from_monday() < 5
}

struct Plan {
    events: Vec<(Timestamp, usize, Entry, Option<AnomalyKind>)>,
    rng: u64,
    logins: BTreeMap<String, u64>,
    failed_pins: BTreeMap<String, u64>,
}

impl Plan {
    fn rand(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n
    }

    fn add(
        &mut self,
        t: Timestamp,
        terminal: &str,
        op: Option<usize>,
        event: Event,
        planted: Option<AnomalyKind>,
    ) {
        let log = if terminal == "T01" || terminal == "T02" {
            0
        } else {
            1
        };
        let mut e = Entry::new(event)
            .terminal(label(terminal))
            .reader(label("ACR39U 00"));
        if let Some(op) = op {
            e = e
                .card(serial(op as u64))
                .operator(label(&format!("op{op:03}")));
        }
        self.events.push((t, log, e, planted));
    }

    /// A normal session; `end: None` leaves it open. `planted`: the finding its login shows.
    fn session(
        &mut self,
        terminal: &str,
        op: usize,
        start: Timestamp,
        end: Option<Timestamp>,
        planted: Option<AnomalyKind>,
    ) {
        let mut t = start;
        let mut step = |_: &mut Plan, s: i64| {
            t = Timestamp(t.0 + s * 1000);
            t
        };
        let t0 = step(self, 0);
        self.add(t0, terminal, Some(op), Event::CardInserted, None);
        if self.rand(8) == 0 {
            let t1 = step(self, 5);
            self.add(
                t1,
                terminal,
                Some(op),
                Event::PinVerified {
                    correct: false,
                    tries_left: Some(2),
                },
                None,
            );
            *self.failed_pins.entry(format!("op{op:03}")).or_default() += 1;
        }
        let t2 = step(self, 5);
        self.add(
            t2,
            terminal,
            Some(op),
            Event::PinVerified {
                correct: true,
                tries_left: Some(3),
            },
            None,
        );
        let t3 = step(self, 1);
        self.add(t3, terminal, Some(op), Event::CardAuthPassed, None);
        let t4 = step(self, 1);
        self.add(
            t4,
            terminal,
            Some(op),
            Event::LoginGranted {
                role: Role::Operator,
            },
            planted,
        );
        *self.logins.entry(format!("op{op:03}")).or_default() += 1;
        let Some(end) = end else { return };
        if self.rand(3) == 0 {
            let mid = Timestamp((t4.0 + end.0) / 2);
            self.add(
                mid,
                terminal,
                Some(op),
                Event::SessionLocked {
                    reason: LockReason::CardRemoved,
                },
                None,
            );
            self.add(
                Timestamp(mid.0 + 1),
                terminal,
                Some(op),
                Event::CardRemoved,
                None,
            );
            let back = Timestamp(mid.0 + 300_000);
            self.add(back, terminal, Some(op), Event::CardInserted, None);
            self.add(
                Timestamp(back.0 + 5000),
                terminal,
                Some(op),
                Event::PinVerified {
                    correct: true,
                    tries_left: Some(3),
                },
                None,
            );
            self.add(
                Timestamp(back.0 + 6000),
                terminal,
                Some(op),
                Event::SessionUnlocked,
                None,
            );
        }
        self.add(
            end,
            terminal,
            Some(op),
            Event::SessionEnded {
                reason: EndReason::Logout,
            },
            None,
        );
        self.add(
            Timestamp(end.0 + 2000),
            terminal,
            Some(op),
            Event::CardRemoved,
            None,
        );
    }
}

#[test]
fn a_month_with_planted_anomalies_is_reviewed_exactly() {
    let mut p = Plan {
        events: Vec::new(),
        rng: 0xDEAD_BEEF_1234_5678,
        logins: BTreeMap::new(),
        failed_pins: BTreeMap::new(),
    };
    use AnomalyKind::*;
    let manager = || label("manager1");
    // Regular work: T01 op1 mornings, op5 afternoons; T02 op2 mornings, op6 afternoons;
    // T03 op3 all day; T04 op4 all day.
    for day in 1..=30u8 {
        if !is_workday(day) {
            continue;
        }
        let jitter = |p: &mut Plan, base_h: u8, base_m: u8, spread: u64| {
            let m = u64::from(base_m) + p.rand(spread);
            jst(day, base_h + (m / 60) as u8, (m % 60) as u8)
        };
        for (terminal, op) in [("T01", 1), ("T02", 2), ("T03", 3), ("T04", 4)] {
            let start = jitter(&mut p, 8, 45, 45);
            let end = jitter(&mut p, 11, 0, 45);
            // June 8: op1's morning session is never ended (P6a).
            if day == 8 && op == 1 {
                p.session(terminal, op, start, None, Some(SessionNeverEnded));
            } else {
                p.session(terminal, op, start, Some(end), None);
            }
        }
        for (terminal, op) in [("T01", 5), ("T02", 6), ("T03", 3), ("T04", 4)] {
            // op5 returned the card on June 15, op6's was revoked on June 22.
            if (op == 5 && day > 15) || (op == 6 && day >= 22) {
                continue;
            }
            let start = jitter(&mut p, 13, 0, 30);
            let end = jitter(&mut p, 16, 0, 45);
            if day == 30 && op == 4 {
                // P6c: still open at the end of the log.
                p.session(terminal, op, start, None, Some(SessionNeverEnded));
            } else {
                p.session(terminal, op, start, Some(end), None);
            }
        }
    }
    // Lockout, June 9 before op4's morning session.
    for (i, tries) in [2u8, 1, 0].into_iter().enumerate() {
        p.add(
            jst(9, 8, 30 + i as u8),
            "T04",
            Some(4),
            Event::PinVerified {
                correct: false,
                tries_left: Some(tries),
            },
            None,
        );
        *p.failed_pins.entry("op004".into()).or_default() += 1;
    }
    p.add(jst(9, 8, 33), "T04", Some(4), Event::PinBlocked, None);
    p.add(
        jst(9, 8, 33),
        "T04",
        Some(4),
        Event::LoginDenied {
            reason: DenyReason::PinBlocked,
        },
        None,
    );
    p.add(
        jst(9, 8, 40),
        "T04",
        Some(4),
        Event::PinUnblocked {
            by: Some(manager()),
        },
        None,
    );
    // A note (art. 3): listed, not a finding.
    p.add(
        jst(3, 10, 0),
        "T01",
        None,
        Event::Note {
            note: NoteKind::RoomEntry,
            text: Text::new("UPS battery replaced").unwrap(),
            who: Some(label("Sato (contractor)")),
            escort: Some(label("Suzuki")),
            by: Some(label("uid 1001 (yamada)")),
        },
        None,
    );
    // P7: wrong PUKs on op4's card, the last one to a card whose PUK is blocked.
    p.add(
        jst(4, 10, 0),
        "T04",
        Some(4),
        Event::PukRejected {
            by: label("uid 1001 (yamada)"),
            tries_left: 0,
        },
        Some(PukRejected),
    );
    p.add(
        jst(4, 10, 1),
        "T04",
        Some(4),
        Event::PukBlocked {
            by: label("uid 1001 (yamada)"),
        },
        Some(PukRejected),
    );
    // op2's card returned on June 10 and lent again on June 11: later use is fine.
    p.add(
        jst(10, 17, 30),
        "T02",
        Some(2),
        Event::CardReturned { by: manager() },
        None,
    );
    p.add(
        jst(11, 8, 0),
        "T02",
        Some(2),
        Event::CardIssued {
            by: manager(),
            role: Role::Operator,
        },
        None,
    );
    // P1: a revoked card presented.
    p.add(
        jst(25, 12, 10),
        "T02",
        Some(6),
        Event::RevokedCardPresented {
            reason: RevocationReason::Lost,
        },
        Some(RevokedCardPresented),
    );
    p.add(
        jst(25, 12, 10),
        "T02",
        Some(6),
        Event::LoginDenied {
            reason: DenyReason::CardRevoked,
        },
        None,
    );
    // P2: an unknown card.
    let mut unknown = Entry::new(Event::CertificateRejected {
        reason: CertRejection::UnknownIssuer,
    })
    .terminal(label("T03"))
    .card(cardgate_card::CardSerial([0x77; 8]));
    p.events.push((
        jst(5, 12, 15),
        1,
        unknown.clone(),
        Some(UnknownCardPresented),
    ));
    unknown.event = Event::LoginDenied {
        reason: DenyReason::CertificateRejected,
    };
    p.events.push((jst(5, 12, 15), 1, unknown, None));
    // P3: outside business hours: a Saturday, an evening, and past 17:15.
    p.session(
        "T03",
        3,
        jst(6, 10, 0),
        Some(jst(6, 11, 0)),
        Some(OutsideBusinessHours),
    );
    p.session(
        "T04",
        4,
        jst(9, 19, 0),
        Some(jst(9, 19, 40)),
        Some(OutsideBusinessHours),
    );
    p.session(
        "T01",
        1,
        jst(17, 16, 50),
        Some(jst(17, 17, 40)),
        Some(OutsideBusinessHours),
    );
    // P4: op3's card on T01 while its afternoon session on T03 is open.
    p.session(
        "T01",
        3,
        jst(18, 14, 0),
        Some(jst(18, 14, 30)),
        Some(CardOnTwoTerminals),
    );
    // P5: use after return / revocation.
    p.add(
        jst(15, 17, 30),
        "T01",
        Some(5),
        Event::CardReturned { by: manager() },
        None,
    );
    p.session(
        "T01",
        5,
        jst(16, 14, 0),
        Some(jst(16, 14, 30)),
        Some(UseAfterWithdrawal),
    );
    p.add(
        jst(22, 12, 0),
        "T02",
        Some(6),
        Event::CardRevoked {
            by: manager(),
            reason: RevocationReason::Lost,
        },
        None,
    );
    p.session(
        "T02",
        6,
        jst(24, 14, 0),
        Some(jst(24, 14, 20)),
        Some(UseAfterWithdrawal),
    );
    // P6b: the daemon on T02 restarts during op6's session on June 12.
    p.add(
        jst(12, 15, 0),
        "T02",
        None,
        Event::DaemonStopped {
            reason: StopReason::Error,
            unfinished: None,
        },
        None,
    );
    p.add(
        jst(12, 15, 1),
        "T02",
        None,
        Event::DaemonStarted {
            version: label("0.1.0"),
        },
        None,
    );

    // Mark P6b: the login of op6's June 12 session.
    let p6b = p
        .events
        .iter()
        .position(|(t, _, e, _)| {
            matches!(e.event, Event::LoginGranted { .. })
                && e.operator.as_ref().map(|o| o.as_str()) == Some("op006")
                && *t > jst(12, 12, 0)
                && *t < jst(12, 15, 0)
        })
        .unwrap();
    p.events[p6b].3 = Some(SessionNeverEnded);

    // Write both logs in time order.
    p.events.sort_by_key(|e| e.0);
    let t = TempDir::new("month");
    let dirs = [t.0.join("a"), t.0.join("b")];
    let clock = ManualClock::at(jst(1, 0, 0));
    let mut logs = Vec::new();
    for d in &dirs {
        AuditLog::init(d, label("cs"), &clock).unwrap();
        let mut c = config(d, 200);
        c.clock = Arc::new(clock.clone());
        c.rotate_daily = false;
        logs.push(AuditLog::open(c).unwrap().0);
    }
    let mut expected = BTreeSet::new();
    for (time, log, entry, planted) in p.events {
        clock.set(time);
        let terminal = entry.terminal.as_ref().unwrap().as_str().to_owned();
        let receipt = logs[log].append(entry).unwrap();
        if let Some(kind) = planted {
            expected.insert((kind, terminal, receipt.seq));
        }
    }
    drop(logs);
    assert_eq!(expected.len(), 13, "the plan plants thirteen findings");

    let dir_refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
    let report = report_dirs(&dir_refs, ReportOptions::default()).unwrap();
    let found: BTreeSet<(AnomalyKind, String, u64)> = report
        .anomalies
        .iter()
        .map(|a| (a.kind, a.terminal.clone(), a.seq))
        .collect();
    assert_eq!(
        found.len(),
        report.anomalies.len(),
        "no finding is reported twice"
    );
    let missed: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = report
        .anomalies
        .iter()
        .filter(|a| !expected.contains(&(a.kind, a.terminal.clone(), a.seq)))
        .collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:#?}\nextra {extra:#?}"
    );

    // Counts per operator.
    for (op, n) in &p.logins {
        assert_eq!(report.per_operator[op].logins, *n, "logins of {op}");
    }
    for op in ["op001", "op002", "op003", "op004", "op005", "op006"] {
        let failed = p.failed_pins.get(op).copied().unwrap_or(0);
        assert_eq!(
            report.per_operator[op].failed_pins, failed,
            "failed PINs of {op}"
        );
        assert_eq!(
            report.per_operator[op].lockouts,
            u64::from(op == "op004"),
            "lockouts of {op}"
        );
    }
    assert_eq!(report.per_terminal["T03"].bad_cards, 1);
    assert_eq!(report.per_terminal["T02"].bad_cards, 1);
    assert_eq!(report.per_terminal["T02"].denied, 1);
    assert_eq!(report.notes.len(), 1);
    assert_eq!(report.notes[0].escort.as_deref(), Some("Suzuki"));
    assert_eq!(report.notes[0].by.as_deref(), Some("uid 1001 (yamada)"));

    // A period: the first two weeks only.
    let first_half = ReportOptions {
        from: Some(jst(1, 0, 0)),
        to: Some(jst(15, 0, 0)),
        ..ReportOptions::default()
    };
    let half = report_dirs(&dir_refs, first_half).unwrap();
    let expected_half: BTreeSet<_> = report
        .anomalies
        .iter()
        .filter(|a| a.time < jst(15, 0, 0))
        .map(|a| (a.kind, a.terminal.clone(), a.seq))
        .collect();
    let found_half: BTreeSet<_> = half
        .anomalies
        .iter()
        .map(|a| (a.kind, a.terminal.clone(), a.seq))
        .collect();
    assert_eq!(found_half, expected_half);
    // June 4 (twice), 5, 6, 8, 9 and 12.
    assert_eq!(found_half.len(), 7);

    // Every rendering carries every finding.
    let table = render::table(&report);
    let csv = render::csv(&report);
    let json: serde_json::Value = serde_json::from_str(&render::json(&report)).unwrap();
    let html = render::html(&report);
    assert_eq!(json["anomalies"].as_array().unwrap().len(), 13);
    // The note names who wrote it, in every rendering.
    assert!(table.contains("by uid 1001 (yamada)"), "{table}");
    assert!(csv.contains(",\"uid 1001 (yamada)\"\r\n"), "{csv}");
    assert!(html.contains("<td>uid 1001 (yamada)</td></tr>"));
    assert_eq!(json["notes"][0]["by"], "uid 1001 (yamada)");
    assert!(table.contains("wrong PUK by uid 1001 (yamada); the PUK is now blocked"));
    for a in &report.anomalies {
        assert!(
            table.contains(&format!("#{:<8} {}", a.seq, a.time)),
            "table lacks {a:?}"
        );
        assert!(
            csv.contains(&format!("\"{}\",{},", a.kind.label(), a.seq)),
            "csv lacks {a:?}"
        );
        assert!(
            html.contains(&format!("<tr><td>{}</td><td>{}</td>", a.seq, a.time)),
            "html lacks {a:?}"
        );
    }
    assert_eq!(html.matches("<svg").count(), 4, "four inline charts");
    assert!(!html.contains("<script"));
    assert!(!html.contains("src="));
    assert!(!html.contains("href="));
}
