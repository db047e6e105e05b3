//! The access manager's review of logs the daemon wrote: the real engine, its real audit log
//! on the real file system, software cards in two readers of two terminals, the engine's
//! clock moved through scripted days. No record is planted: the review must find exactly
//! what the script did, and nothing else. (The real-stack version, pcscd and PAM included,
//! is `tests/tests/review_real.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use cardgate_audit::report::{
    review, BurstScope, Detail, Finding, FindingKind, NeverEnded, NeverIssuedBasis, ReportOptions,
    Withdrawal,
};
use cardgate_card::cert::{CardSerial, Role};
use cardgate_office::calendar::{holiday, ClosedReason, OfficeCalendar};
use cardgate_protocol::Answer;
use cardgate_sessiond::register::{CardEntry, CardState, RegisterFile};
use common::*;
use time::{Date, Duration, Month, OffsetDateTime, Weekday};

const READER2: &str = "Virtual PCD 00 01";
/// A second card lent to op-alice.
const ALICE2: CardSerial = CardSerial([0xA2, 0, 0, 0, 0, 0, 0, 3]);
/// A card lent to no one: not in the register.
const STRAY: CardSerial = CardSerial([0xDD, 0, 0, 0, 0, 0, 0, 4]);

fn jst() -> time::UtcOffset {
    time::UtcOffset::from_hms(9, 0, 0).unwrap()
}

struct Day<'a> {
    w: &'a World,
}

impl Day<'_> {
    /// Moves the engine's clock to `hh:mm` JST of `date` (always forwards).
    fn at(&self, date: Date, hh: u8, mm: u8) {
        let target = date
            .with_hms(hh, mm, 0)
            .unwrap()
            .assume_offset(jst())
            .unix_timestamp();
        let step = target - self.w.clock_now();
        assert!(step >= 0, "the script goes forwards");
        self.w.clock.advance(step);
    }

    fn login(&self, terminal: &str, user: &str, session: &str) {
        let a =
            self.w
                .engine
                .authenticate(0, terminal, user, &cardgate_card::SecretString::from(PIN));
        assert!(matches!(a, Answer::Granted { .. }), "{a:?}");
        let a = self.w.engine.open_session(terminal, user, session);
        assert!(matches!(a, Answer::Granted { .. }), "{a:?}");
    }

    fn logout(&self, user: &str, session: &str) {
        let a = self.w.engine.close_session(user, session);
        assert!(matches!(a, Answer::Granted { .. }), "{a:?}");
    }

    fn refused(&self, terminal: &str, user: &str, pin: &str) -> String {
        let a =
            self.w
                .engine
                .authenticate(0, terminal, user, &cardgate_card::SecretString::from(pin));
        reason(&a).to_owned()
    }
}

/// An ordinary working day (Monday to Friday, no holiday, office open) on or after `d`.
fn working_day_from(mut d: Date) -> Date {
    let calendar = OfficeCalendar::default();
    while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
        || calendar.day_off(d).is_some()
    {
        d = d.next_day().unwrap();
    }
    d
}

/// The register lends ALICE's card to op-alice and BOB's to op-bob, as `card issue` does.
fn lend(w: &World) -> RegisterFile {
    let register = RegisterFile::new(&w.dir);
    register
        .update(|r| {
            for (serial, op) in [(ALICE, "op-alice"), (BOB, "op-bob"), (ALICE2, "op-alice")] {
                let until = time::macros::date!(2099 - 03 - 31);
                let mut e = CardEntry::lent(op, Role::Operator, 0, until);
                e.must_change_pin = false;
                r.cards.insert(serial.to_string(), e);
            }
        })
        .unwrap();
    register
}

/// What the tests compare: kind, terminal, card, operator.
type Summary<'a> = (
    FindingKind,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

fn summary(f: &Finding) -> Summary<'_> {
    (
        f.kind,
        f.terminal.as_deref(),
        f.card.as_deref(),
        f.operator.as_deref(),
    )
}

// The day: one host with two readers, one pull and unlock, clean logouts. The review
// reported two "session never ended" and counted one operator's logins twice, because the
// daemon recorded the unlock as a login and every record's terminal was the host.
#[test]
fn a_day_of_the_daemon_with_a_pull_and_an_unlock_has_no_findings() {
    let w = world_with(&format!(
        "[[terminal]]\nid = \"juki-02\"\nreader = \"{READER2}\"\n"
    ));
    let now = w.clock_now();
    write_list(&w.dir, &w.issuer, 2, &[], now + 400 * 86_400);
    w.engine.reload_revocation_if_changed();
    let register = lend(&w);
    let day = Day { w: &w };
    let d = working_day_from(
        OffsetDateTime::from_unix_timestamp(now).unwrap().date() + Duration::days(7),
    );
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    w.cards.insert(READER2, card(&w.issuer, BOB, "op-bob"));
    day.at(d, 9, 0);
    day.login("juki-01", "alice", "c1");
    day.at(d, 10, 0);
    let alice = w.cards.pull(READER);
    w.engine.card_removed(READER);
    w.settle();
    day.at(d, 10, 5);
    w.cards.insert(READER, alice);
    w.engine.card_inserted(READER);
    let a = w.auth("alice", PIN);
    assert!(matches!(a, Answer::Granted { .. }), "{a:?}");
    w.settle();
    assert_eq!(w.calls().last().unwrap(), "unlock-session c1");
    day.at(d, 12, 0);
    day.logout("alice", "c1");
    day.at(d, 13, 0);
    day.login("juki-02", "bob", "c2");
    day.at(d, 16, 0);
    day.logout("bob", "c2");
    w.settle();

    let options = ReportOptions::from_config(&w.config)
        .unwrap()
        .with_register(&register.read().unwrap());
    let report = review(&[w.dir.join("audit").as_path()], &options).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(
        report.per_operator["op-alice"].logins, 1,
        "the unlock is no login"
    );
    assert_eq!(report.per_operator["op-bob"].logins, 1);
    assert_eq!(report.per_terminal["juki-01"].logins, 1);
    assert_eq!(report.per_terminal["juki-02"].logins, 1);
    assert_eq!(report.logins_per_day[&d.to_string()], 2);
    assert_eq!(report.logs.len(), 1);
    assert_eq!(report.logs[0].terminals, ["juki-01", "juki-02"]);
}

/// The first weekday national holiday after `d`, and the first weekday of the year-end
/// closure after `d` that is not a holiday.
fn days_off_after(d: Date) -> (Date, Date) {
    let mut h = d;
    while holiday(h).is_none() || matches!(h.weekday(), Weekday::Saturday | Weekday::Sunday) {
        h = h.next_day().unwrap();
    }
    let mut c = d;
    loop {
        let year_end = matches!(
            (c.month(), c.day()),
            (Month::December, 29..=31) | (Month::January, 2..=3)
        );
        if year_end
            && holiday(c).is_none()
            && !matches!(c.weekday(), Weekday::Saturday | Weekday::Sunday)
        {
            break;
        }
        c = c.next_day().unwrap();
    }
    (h, c)
}

// Days of the daemon with something to find in each: every finding the script caused is
// reported, in time order across terminals, and nothing else.
#[test]
fn scripted_days_give_exactly_their_findings() {
    let w = world_with(&format!(
        "[[terminal]]\nid = \"juki-02\"\nreader = \"{READER2}\"\n"
    ));
    let now = w.clock_now();
    write_list(&w.dir, &w.issuer, 2, &[], now + 400 * 86_400);
    w.engine.reload_revocation_if_changed();
    let register = lend(&w);
    let day = Day { w: &w };
    let today = OffsetDateTime::from_unix_timestamp(now).unwrap().date();
    let d1 = working_day_from(today + Duration::days(7));
    let d2 = working_day_from(d1.next_day().unwrap());
    let (holiday_day, closed_day) = days_off_after(d2);
    let last = working_day_from(holiday_day.max(closed_day).next_day().unwrap());
    let alice = ALICE.to_string();
    let bob = BOB.to_string();
    let stray = STRAY.to_string();
    let mut expected: Vec<Summary> = Vec::new();

    // Day 1: a session in the evening.
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    day.at(d1, 20, 0);
    day.login("juki-01", "alice", "s1");
    day.at(d1, 20, 30);
    day.logout("alice", "s1");
    expected.push((
        FindingKind::OutsideBusinessHours,
        Some("juki-01"),
        Some(&alice),
        Some("op-alice"),
    ));

    // Day 2: alice leaves juki-01 locked and logs in on juki-02 with the same card.
    day.at(d2, 9, 0);
    day.login("juki-01", "alice", "s2");
    day.at(d2, 9, 30);
    let card_a = w.cards.pull(READER);
    w.engine.card_removed(READER);
    w.settle();
    w.cards.insert(READER2, card_a);
    day.at(d2, 9, 35);
    day.login("juki-02", "alice", "s3");
    expected.push((
        FindingKind::CardOnTwoTerminals,
        Some("juki-02"),
        Some(&alice),
        Some("op-alice"),
    ));
    day.at(d2, 11, 0);
    day.logout("alice", "s3");
    day.logout("alice", "s2");
    let card_a = w.cards.pull(READER2);
    w.engine.card_removed(READER2);
    w.settle();

    // A national holiday and a day of the year-end closure, in their order.
    let mut off = [
        (holiday_day, FindingKind::OnNationalHoliday),
        (closed_day, FindingKind::OnClosedDay),
    ];
    off.sort();
    w.cards.insert(READER, card_a);
    for (i, (date, kind)) in off.iter().enumerate() {
        let session = format!("h{i}");
        day.at(*date, 10, 0);
        day.login("juki-01", "alice", &session);
        day.at(*date, 10, 30);
        day.logout("alice", &session);
        expected.push((*kind, Some("juki-01"), Some(&alice), Some("op-alice")));
    }

    // The last day: a card tried with wrong PINs, a revoked card, a returned card, and a
    // card never issued whose session never ends.
    w.cards.insert(READER2, card(&w.issuer, BOB, "op-bob"));
    for (i, minute) in [0u8, 2, 4].into_iter().enumerate() {
        day.at(last, 9, minute);
        let why = day.refused("juki-02", "bob", "wrong1");
        assert!(why == "wrong_pin" || why == "pin_blocked", "{i}: {why}");
    }
    expected.push((
        FindingKind::FailedPinBurst,
        Some("juki-02"),
        Some(&bob),
        Some("op-bob"),
    ));
    day.at(last, 10, 0);
    let now = w.clock_now();
    write_list(&w.dir, &w.issuer, 3, &[BOB], now + 400 * 86_400);
    w.engine.reload_revocation_if_changed();
    assert_eq!(day.refused("juki-02", "bob", PIN), "revoked");
    expected.push((
        FindingKind::RevokedCardPresented,
        Some("juki-02"),
        Some(&bob),
        Some("op-bob"),
    ));
    w.cards.pull(READER2);

    day.at(last, 11, 0);
    register
        .update(|r| {
            r.cards.get_mut(&alice).unwrap().state = CardState::Returned { at: now };
        })
        .unwrap();
    w.engine.tick();
    assert_eq!(day.refused("juki-01", "alice", PIN), "returned");
    expected.push((
        FindingKind::UseAfterReturn,
        Some("juki-01"),
        Some(&alice),
        Some("op-alice"),
    ));

    day.at(last, 14, 0);
    w.cards.insert(READER2, card(&w.issuer, STRAY, "op-bob"));
    day.login("juki-02", "bob", "s9");
    expected.push((
        FindingKind::CardNeverIssued,
        Some("juki-02"),
        Some(&stray),
        Some("op-bob"),
    ));
    expected.push((
        FindingKind::SessionNeverEnded,
        Some("juki-02"),
        Some(&stray),
        Some("op-bob"),
    ));
    w.settle();

    let options = ReportOptions::from_config(&w.config)
        .unwrap()
        .with_register(&register.read().unwrap());
    let report = review(&[w.dir.join("audit").as_path()], &options).unwrap();
    let found: Vec<_> = report.findings.iter().map(summary).collect();
    assert_eq!(found, expected, "{:#?}", report.findings);

    // The data behind each, as the presentation renders it.
    let of = |kind| report.of_kind(kind).next().unwrap();
    let two = of(FindingKind::CardOnTwoTerminals);
    assert!(
        matches!(&two.detail, Detail::TwoTerminals { other_terminal, .. } if other_terminal == "juki-01"),
        "{two:?}"
    );
    assert_eq!(
        two.records.len(),
        2,
        "the other session's login, and this one"
    );
    match &of(FindingKind::OnNationalHoliday).detail {
        Detail::Holiday { holiday: h } => assert_eq!(h.date, holiday_day),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        of(FindingKind::OnClosedDay).detail,
        Detail::ClosedDay {
            reason: ClosedReason::YearEnd,
            ..
        }
    ));
    assert!(matches!(
        of(FindingKind::FailedPinBurst).detail,
        Detail::Burst {
            scope: BurstScope::Card,
            count: 3,
            window_minutes: 10
        }
    ));
    assert!(matches!(
        of(FindingKind::UseAfterReturn).detail,
        Detail::AfterWithdrawal {
            how: Withdrawal::Returned,
            refused: true,
            ..
        }
    ));
    assert!(matches!(
        of(FindingKind::CardNeverIssued).detail,
        Detail::NeverIssued {
            basis: NeverIssuedBasis::NotInRegister
        }
    ));
    assert!(matches!(
        of(FindingKind::SessionNeverEnded).detail,
        Detail::NeverEnded {
            why: NeverEnded::OpenAtEnd
        }
    ));
    // Every finding's records are in this one log, and name it.
    let log = report.logs[0].dir.clone();
    assert!(report
        .findings
        .iter()
        .all(|f| !f.records.is_empty() && f.records.iter().all(|r| r.log == log)));

    // The JSON carries each finding's stable kind and its data.
    let json = cardgate_audit::report::render::json(&report).unwrap();
    for kind in [
        "\"kind\":\"on_national_holiday\"",
        "\"kind\":\"card_on_two_terminals\"",
        "\"type\":\"holiday\"",
        &format!("\"date\":\"{holiday_day}\""),
    ] {
        assert!(
            json.replace(": ", ":").contains(kind),
            "{kind} not in {json}"
        );
    }
    assert!(report.checkpoint.as_ref().unwrap().logs.len() == 1);

    // A period of the holiday alone, in JST dates, holds its finding only.
    let options = ReportOptions {
        from: Some(
            cardgate_audit::report::parse_bound(&holiday_day.to_string(), jst(), false).unwrap(),
        ),
        to: Some(
            cardgate_audit::report::parse_bound(&holiday_day.to_string(), jst(), true).unwrap(),
        ),
        ..options
    };
    let report = review(&[w.dir.join("audit").as_path()], &options).unwrap();
    let found: Vec<_> = report.findings.iter().map(|f| f.kind).collect();
    assert_eq!(found, [FindingKind::OnNationalHoliday]);
}

// One operator with two cards on two terminals; a card tried by the wrong user again and
// again; and, on one terminal, another operator's session while the first one's is locked
// (no finding: the card that opened a session is the one that ends it).
#[test]
fn an_operator_on_two_terminals_and_a_burst_of_denials_are_found() {
    let w = world_with(&format!(
        "[[terminal]]\nid = \"juki-02\"\nreader = \"{READER2}\"\n"
    ));
    let now = w.clock_now();
    write_list(&w.dir, &w.issuer, 2, &[], now + 400 * 86_400);
    w.engine.reload_revocation_if_changed();
    let register = lend(&w);
    let day = Day { w: &w };
    let d = working_day_from(
        OffsetDateTime::from_unix_timestamp(now).unwrap().date() + Duration::days(7),
    );
    let alice2 = ALICE2.to_string();
    let alice = ALICE.to_string();

    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    w.cards.insert(READER2, card(&w.issuer, ALICE2, "op-alice"));
    day.at(d, 9, 0);
    day.login("juki-01", "alice", "o1");
    day.at(d, 9, 10);
    day.login("juki-02", "alice", "o2");
    day.at(d, 9, 20);
    day.logout("alice", "o2");
    day.logout("alice", "o1");
    w.cards.pull(READER2);

    // Five refusals, each after the refusal gate's window (60 s), within ten minutes.
    let card_a = w.cards.pull(READER);
    w.cards.insert(READER2, card_a);
    for i in 0..5u8 {
        day.at(d, 10, i * 2);
        assert_eq!(day.refused("juki-02", "bob", PIN), "wrong_user", "{i}");
    }
    let card_a = w.cards.pull(READER2);

    day.at(d, 11, 0);
    w.cards.insert(READER, card_a);
    day.login("juki-01", "alice", "l1");
    let card_a = w.cards.pull(READER);
    w.engine.card_removed(READER);
    w.settle();
    w.cards.insert(READER, card(&w.issuer, BOB, "op-bob"));
    day.at(d, 11, 5);
    day.login("juki-01", "bob", "l2");
    day.at(d, 11, 30);
    day.logout("bob", "l2");
    w.cards.pull(READER);
    w.cards.insert(READER, card_a);
    day.at(d, 11, 35);
    let a = w.auth("alice", PIN);
    assert!(matches!(a, Answer::Granted { .. }), "{a:?}");
    day.at(d, 12, 0);
    day.logout("alice", "l1");
    w.settle();

    let options = ReportOptions::from_config(&w.config)
        .unwrap()
        .with_register(&register.read().unwrap());
    let report = review(&[w.dir.join("audit").as_path()], &options).unwrap();
    let found: Vec<_> = report.findings.iter().map(summary).collect();
    assert_eq!(
        found,
        [
            (
                FindingKind::OperatorOnTwoTerminals,
                Some("juki-02"),
                Some(alice2.as_str()),
                Some("op-alice")
            ),
            (
                FindingKind::DenialBurst,
                Some("juki-02"),
                Some(alice.as_str()),
                Some("op-alice")
            ),
        ],
        "{:#?}",
        report.findings
    );
    assert!(matches!(
        report.findings[1].detail,
        Detail::Burst {
            scope: BurstScope::Card,
            count: 5,
            ..
        }
    ));
    assert_eq!(report.per_operator["op-alice"].logins, 3);
    assert_eq!(report.per_operator["op-bob"].logins, 1);
}

// With `[business_hours]` the daemon refuses an attempt out of hours: no session, but the
// attempt is the finding (the record names the card in the reader).
#[test]
fn an_attempt_the_daemon_refused_out_of_hours_is_a_finding() {
    let w = world_with("[business_hours]\nstart = \"08:30\"\nend = \"17:15\"\n");
    let now = w.clock_now();
    write_list(&w.dir, &w.issuer, 2, &[], now + 400 * 86_400);
    w.engine.reload_revocation_if_changed();
    let register = lend(&w);
    let day = Day { w: &w };
    let d = working_day_from(
        OffsetDateTime::from_unix_timestamp(now).unwrap().date() + Duration::days(7),
    );
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    day.at(d, 9, 0);
    day.login("juki-01", "alice", "e1");
    day.at(d, 12, 0);
    day.logout("alice", "e1");
    day.at(d, 19, 30);
    assert_eq!(
        day.refused("juki-01", "alice", PIN),
        "outside_business_hours"
    );
    let options = ReportOptions::from_config(&w.config)
        .unwrap()
        .with_register(&register.read().unwrap());
    let report = review(&[w.dir.join("audit").as_path()], &options).unwrap();
    let alice = ALICE.to_string();
    let found: Vec<_> = report.findings.iter().map(summary).collect();
    assert_eq!(
        found,
        [(
            FindingKind::OutsideBusinessHours,
            Some("juki-01"),
            Some(alice.as_str()),
            Some("op-alice")
        )],
        "{:#?}",
        report.findings
    );
    assert_eq!(report.findings[0].detail, Detail::None);
    assert_eq!(report.per_operator["op-alice"].denied, 1);
}

// Issue 15: a session ended because its screen would not lock is a finding; a console
// session ended on removal (it has no locker) is what the daemon is configured to do, not one.
#[test]
fn a_screen_that_did_not_lock_is_a_finding_and_a_console_ended_on_removal_is_not() {
    let w = world_with(&format!(
        "[session]\nlock_confirm_ms = 100\n[[terminal]]\nid = \"juki-02\"\nreader = \"{READER2}\"\n"
    ));
    let now = w.clock_now();
    write_list(&w.dir, &w.issuer, 2, &[], now + 400 * 86_400);
    w.engine.reload_revocation_if_changed();
    let register = lend(&w);
    let day = Day { w: &w };
    let d = working_day_from(
        OffsetDateTime::from_unix_timestamp(now).unwrap().date() + Duration::days(7),
    );
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    w.cards.insert(READER2, card(&w.issuer, BOB, "op-bob"));
    day.at(d, 9, 0);
    day.login("juki-01", "alice", "g1");
    day.login("juki-02", "bob", "t2");
    // g1's locker cannot be read back (no LockedHint); t2 is a text console.
    w.actions.2.lock().unwrap().push("t2".into());
    w.actions.set_failing("show-session", true);
    day.at(d, 10, 0);
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    w.settle();
    w.actions.set_failing("show-session", false);
    w.cards.pull(READER2);
    w.engine.card_removed(READER2);
    w.settle();
    // g1's end is read back on the retry.
    day.at(d, 10, 1);
    w.engine.tick();
    w.settle();
    assert!(w.engine.sessions().is_empty(), "{:?}", w.engine.sessions());

    let options = ReportOptions::from_config(&w.config)
        .unwrap()
        .with_register(&register.read().unwrap());
    let report = review(&[w.dir.join("audit").as_path()], &options).unwrap();
    let alice = ALICE.to_string();
    let found: Vec<_> = report.findings.iter().map(summary).collect();
    assert_eq!(
        found,
        [(
            FindingKind::LockNotHeld,
            Some("juki-01"),
            Some(alice.as_str()),
            Some("op-alice")
        )],
        "{:#?}",
        report.findings
    );
}
