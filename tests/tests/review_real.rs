//! The access manager's review on logs that only the real daemon wrote: the scripted day and
//! month (`cardgate_tests::scripted`) run through the real stack (pcscd, vpcd, software cards,
//! `cardgated` and `cardgatectl` on a shifted wall clock, pamtester), and what their records
//! say: each names its terminal as configured, an unlock is not a login, every refusal has its
//! real reason, and every finding the script contains is in the log where and when the script
//! did it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_audit::record::{DenyReason, Outcome};
use cardgate_audit::report::{review, Finding, FindingKind as Kind, Report};
use cardgate_audit::SealKey;
use cardgate_audit::{Event, Record};
use cardgate_card::RevocationReason;
use cardgate_tests::fixtures::{OPERATOR, OPERATOR_2, TERMINAL, TERMINAL_2};
use cardgate_tests::scripted::{
    scripted_day, scripted_month, Expected, FindingKind, Scripted, SLACK,
};
use std::collections::HashMap;

fn records(s: &Scripted) -> Vec<Record> {
    s.office
        .audit_lines()
        .iter()
        .map(|l| Record::parse(l.as_bytes()).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn card_of(r: &Record) -> String {
    r.card.map(|c| c.to_string()).unwrap_or_default()
}

/// The records of `kind` at `terminal`.
fn at<'r>(records: &'r [Record], terminal: &str, kind: &str) -> Vec<&'r Record> {
    records
        .iter()
        .filter(|r| r.terminal.as_str() == terminal && r.event.kind_name() == kind)
        .collect()
}

/// What every scripted log must say, whatever the script: it verifies with k(0); each record
/// at a terminal's reader, and each session record, names the terminal as configured; every
/// login has its logout, and an unlock is its own record, never a login.
fn common_checks(s: &Scripted, records: &[Record]) {
    s.office.verify_audit();
    // Every record is of the scripted November: a clock read that escaped the shifted clock
    // would date a record today, and every later one with it (the log's times never go back).
    let december = time::macros::datetime!(2026-11-30 15:00 UTC);
    for r in records {
        let t = r.time.to_datetime().unwrap();
        assert!(
            t < december,
            "record {} is dated {t}, outside the script",
            r.seq
        );
    }
    let config = std::fs::read_to_string(&s.office.config).unwrap();
    let reader_of = |terminal: &str| {
        let at = config.find(&format!("id = \"{terminal}\"")).unwrap();
        let rest = &config[at..];
        let start = rest.find("reader = \"").unwrap() + "reader = \"".len();
        rest[start..start + rest[start..].find('"').unwrap()].to_owned()
    };
    let readers: HashMap<String, &str> = [TERMINAL, TERMINAL_2]
        .into_iter()
        .map(|t| (reader_of(t), t))
        .collect();
    let host = records[0].terminal.as_str().to_owned();
    assert!(!readers.values().any(|t| *t == host), "{host}");
    for r in records {
        let expected = match r.reader.as_ref() {
            Some(reader) => readers.get(reader.as_str()).copied().unwrap_or(&host),
            None if r.event.kind_name().starts_with("session_") => {
                panic!("a session record without its reader: {r:?}")
            }
            None => &host,
        };
        assert_eq!(r.terminal.as_str(), expected, "{r:?}");
    }
    // Sessions: each opened one has one login and one logout on its terminal with its card,
    // in that order, and no other login_granted is in the log (the unlocks are not).
    let grants: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r.event, Event::LoginGranted { .. }))
        .collect();
    let ends: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r.event, Event::SessionEnded { .. }))
        .collect();
    assert_eq!(grants.len(), s.sessions.len(), "{grants:#?}");
    assert_eq!(ends.len(), s.sessions.len(), "{ends:#?}");
    for g in &grants {
        assert!(
            ends.iter()
                .any(|e| e.terminal == g.terminal && e.card == g.card && e.seq > g.seq),
            "a login that never ended: {g:?}"
        );
    }
    let unlocks: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r.event, Event::SessionUnlocked))
        .collect();
    assert_eq!(unlocks.len(), s.unlocks, "{unlocks:#?}");
    for u in &unlocks {
        // The PIN that unlocked it is recorded just before, and no login with it.
        let before: Vec<&str> = records
            .iter()
            .filter(|r| r.seq < u.seq && r.terminal == u.terminal && r.card == u.card)
            .map(|r| r.event.kind_name())
            .collect();
        assert_eq!(
            before[before.len() - 2..],
            ["pin_verified", "card_auth_passed"],
            "{u:?}: {before:?}"
        );
    }
}

/// Each expected finding is in the log: a record of it at its terminal, with its card and
/// operator, at the scripted time (to within the time a step takes).
fn findings_are_in_the_log(s: &Scripted, records: &[Record]) {
    for f in &s.findings {
        let matching = |r: &&Record| {
            let t = r.time.to_datetime().unwrap();
            r.terminal.as_str() == f.terminal
                && card_of(r) == f.card
                && r.operator.as_ref().map(|o| o.as_str()) == Some(f.operator.as_str())
                && t >= f.at - std::time::Duration::from_secs(1)
                && t <= f.at + SLACK
                && is_evidence(f, r)
        };
        assert!(
            records.iter().any(|r| matching(&r)),
            "no record of {f:?} in the log"
        );
    }
}

fn is_evidence(f: &Expected, r: &Record) -> bool {
    match f.kind {
        FindingKind::OutsideHours => {
            matches!(r.event, Event::LoginGranted { .. })
                || r.event
                    == Event::LoginDenied {
                        reason: DenyReason::OutsideBusinessHours,
                    }
        }
        FindingKind::Holiday | FindingKind::TwoTerminals => {
            matches!(r.event, Event::LoginGranted { .. })
        }
        FindingKind::PinBurst => matches!(r.event, Event::PinBlocked),
        FindingKind::UseAfterReturn => {
            r.event
                == Event::RevokedCardPresented {
                    reason: RevocationReason::Returned,
                }
        }
        FindingKind::RevokedCard => matches!(r.event, Event::RevokedCardPresented { .. }),
    }
}

#[test]
fn the_scripted_day_is_recorded_as_it_happened() {
    let day = scripted_day().unwrap();
    let records = records(&day);
    common_checks(&day, &records);
    findings_are_in_the_log(&day, &records);
    let kinds: Vec<FindingKind> = day.findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            FindingKind::TwoTerminals,
            FindingKind::RevokedCard,
            FindingKind::PinBurst,
            // A's session 16:55-17:25, then A's attempt at 19:30.
            FindingKind::OutsideHours,
            FindingKind::OutsideHours
        ]
    );
    let (a, a_old, b) = (
        day.card("a").unwrap(),
        day.card("a-old").unwrap(),
        day.card("b").unwrap(),
    );
    // Two unlocks of c1 on juki-01 (after the trip to juki-02 and after the pull at 11:00).
    let unlocks = at(&records, TERMINAL, "session_unlocked");
    assert_eq!(unlocks.len(), 2);
    assert!(unlocks.iter().all(|u| card_of(u) == a));
    // Logins: A on juki-01 twice (c1, c5) and on juki-02 once (c3); B on juki-02 twice.
    let logins = |t: &str, card: &str| {
        at(&records, t, "login_granted")
            .into_iter()
            .filter(|r| card_of(r) == card)
            .count()
    };
    assert_eq!(
        (
            logins(TERMINAL, a),
            logins(TERMINAL_2, a),
            logins(TERMINAL_2, b)
        ),
        (2, 1, 2)
    );
    // The refusals, each with its real reason.
    let denials: Vec<(String, String, DenyReason)> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::LoginDenied { reason } => {
                Some((r.terminal.as_str().to_owned(), card_of(r), reason))
            }
            _ => None,
        })
        .collect();
    let expected: Vec<(String, String, DenyReason)> = [
        (TERMINAL, a, DenyReason::WrongPin),
        (TERMINAL_2, b, DenyReason::WrongPin),
        (TERMINAL, a_old, DenyReason::CardRevoked),
        (TERMINAL_2, b, DenyReason::WrongPin),
        (TERMINAL_2, b, DenyReason::WrongPin),
        (TERMINAL_2, b, DenyReason::PinBlocked),
        (TERMINAL, a, DenyReason::OutsideBusinessHours),
    ]
    .into_iter()
    .map(|(t, c, r)| (t.to_owned(), c.to_owned(), r))
    .collect();
    assert_eq!(denials, expected);
    let revoked: Vec<&Record> = at(&records, TERMINAL, "revoked_card_presented");
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        revoked[0].event,
        Event::RevokedCardPresented {
            reason: RevocationReason::Lost
        }
    );
    // The burst: three wrong PINs on B's card within seconds, the third blocks it.
    let wrong: Vec<&Record> = at(&records, TERMINAL_2, "pin_verified")
        .into_iter()
        .filter(|r| r.event.outcome() == Outcome::Failure)
        .collect();
    assert_eq!(wrong.len(), 4, "one slip at 13:00, three at 16:00");
    let burst = &wrong[1..];
    let span = burst[2].time.unix_ms() - burst[0].time.unix_ms();
    assert!(span < 30_000, "{span} ms");
    assert!(burst
        .iter()
        .all(|r| card_of(r) == b && r.operator.as_ref().unwrap().as_str() == OPERATOR_2));
    assert_eq!(at(&records, TERMINAL_2, "pin_blocked").len(), 1);
    // The operators' records carry their operator IDs.
    assert!(at(&records, TERMINAL, "login_granted").iter().all(|r| r
        .operator
        .as_ref()
        .unwrap()
        .as_str()
        == OPERATOR));
    // The access manager's work at the desk: issued, revoked, returned.
    for (kind, n) in [
        ("card_issued", 3),
        ("card_revoked", 1),
        ("card_returned", 1),
    ] {
        assert_eq!(
            records
                .iter()
                .filter(|r| r.event.kind_name() == kind)
                .count(),
            n,
            "{kind}"
        );
    }
}

#[test]
fn the_scripted_month_is_recorded_as_it_happened() {
    let month = scripted_month().unwrap();
    let records = records(&month);
    common_checks(&month, &records);
    findings_are_in_the_log(&month, &records);
    let kinds: Vec<FindingKind> = month.findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            FindingKind::Holiday,
            // A's session past 17:15 on 11-10, then B's attempt on Saturday 11-14.
            FindingKind::OutsideHours,
            FindingKind::OutsideHours,
            FindingKind::Holiday,
            FindingKind::UseAfterReturn
        ]
    );
    // The daemon's clock went through the month: records on each scripted day, in JST.
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    let mut days: Vec<u8> = records
        .iter()
        .filter(|r| matches!(r.event, Event::LoginGranted { .. }))
        .map(|r| r.time.to_datetime().unwrap().to_offset(jst).day())
        .collect();
    days.dedup();
    assert_eq!(days, [2, 3, 4, 10, 16, 20, 23, 24, 30]);
    // The returned card was refused as returned, not as revoked.
    let b = month.card("b").unwrap();
    let refused: Vec<DenyReason> = at(&records, TERMINAL_2, "login_denied")
        .into_iter()
        .filter(|r| card_of(r) == b)
        .map(|r| match r.event {
            Event::LoginDenied { reason } => reason,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        refused,
        [DenyReason::OutsideBusinessHours, DenyReason::CardReturned]
    );
    assert!(at(&records, TERMINAL, "login_granted").iter().all(|r| r
        .operator
        .as_ref()
        .unwrap()
        .as_str()
        == OPERATOR));
    // The list was refreshed every Monday and never went stale at a login.
    assert!(!records
        .iter()
        .any(|r| matches!(r.event, Event::LoginDenied { reason } if reason == DenyReason::RevocationListStale)));
}

/// The review (`cardgate_audit::report::review`) of the logs the script's daemon wrote, with
/// the options `cardgatectl audit report` takes from the office's `cardgated.toml` (business
/// hours, offset, calendar, thresholds, terminals, the card register) and k(0).
fn reviewed(s: &Scripted) -> Report {
    let config = cardgate_office::config::Config::load(&s.office.config).unwrap();
    let mut options = cardgate_audit::cli::review_options(Some(&config), None, None).unwrap();
    options.key = Some(SealKey::from_hex(&s.office.audit_key_hex).unwrap());
    let dirs: Vec<&std::path::Path> = s.log_dirs.iter().map(|d| d.as_path()).collect();
    review(&dirs, &options).unwrap()
}

/// The review's kind for what the script did.
fn kind_of(f: &Expected) -> Kind {
    match f.kind {
        FindingKind::OutsideHours => Kind::OutsideBusinessHours,
        FindingKind::Holiday => Kind::OnNationalHoliday,
        FindingKind::PinBurst => Kind::FailedPinBurst,
        // The operator's one card, its session locked on one terminal and a login on another.
        FindingKind::TwoTerminals => Kind::CardOnTwoTerminals,
        FindingKind::UseAfterReturn => Kind::UseAfterReturn,
        FindingKind::RevokedCard => Kind::RevokedCardPresented,
    }
}

/// Exactly the script's findings, each once, at its terminal, card, operator and time, and
/// no other.
fn review_finds_exactly_the_script(s: &Scripted) {
    let report = reviewed(s);
    let shown = |fs: &[Finding]| {
        fs.iter()
            .map(|f| {
                format!(
                    "{} {:?} {:?} {:?} {:?}",
                    f.kind.as_str(),
                    f.terminal,
                    f.card,
                    f.operator,
                    f.time.map(|t| t.to_string())
                )
            })
            .collect::<Vec<_>>()
    };
    let mut left: Vec<&Finding> = report.findings.iter().collect();
    for e in &s.findings {
        let at = |f: &&Finding| {
            let t = f.time.and_then(|t| t.to_datetime());
            f.kind == kind_of(e)
                && f.terminal.as_deref() == Some(e.terminal.as_str())
                && f.card.as_deref().map(str::to_uppercase) == Some(e.card.to_uppercase())
                && f.operator.as_deref() == Some(e.operator.as_str())
                && t.is_some_and(|t| {
                    t >= e.at - std::time::Duration::from_secs(1) && t <= e.at + SLACK
                })
        };
        let Some(i) = left.iter().position(at) else {
            panic!(
                "the review did not report {e:?}; it reported {:#?}",
                shown(&report.findings)
            );
        };
        left.remove(i);
    }
    let extra: Vec<Finding> = left.into_iter().cloned().collect();
    assert!(
        extra.is_empty(),
        "findings the script does not contain: {:#?}",
        shown(&extra)
    );
    // The one log, verified with k(0); its records name both terminals (and the host, for
    // records about no terminal: the daemon's start, the lists, the manager's desk).
    assert_eq!(report.logs.len(), 1);
    assert_eq!(
        report.logs[0].verification.status,
        cardgate_audit::report::VerificationStatus::Intact
    );
    let terminals = &report.logs[0].terminals;
    assert!(
        terminals.iter().any(|t| t == TERMINAL) && terminals.iter().any(|t| t == TERMINAL_2),
        "{terminals:?}"
    );
}

// Done when (issue 12): on logs the daemon wrote through the real stack, the review reports
// exactly the findings the scripted day contains, and no others.
#[test]
fn the_review_of_the_scripted_day_reports_exactly_its_findings() {
    let day = scripted_day().unwrap();
    review_finds_exactly_the_script(&day);
}

// Done when (issue 12): the same for the scripted month; a login on a national holiday
// (2026-11-03 文化の日, 2026-11-23 勤労感謝の日) is a finding.
#[test]
fn the_review_of_the_scripted_month_reports_exactly_its_findings() {
    let month = scripted_month().unwrap();
    review_finds_exactly_the_script(&month);
    let holidays: Vec<String> = reviewed(&month)
        .findings
        .iter()
        .filter(|f| f.kind == Kind::OnNationalHoliday)
        .filter_map(|f| f.time)
        .map(|t| {
            t.to_datetime()
                .unwrap()
                .to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap())
                .date()
                .to_string()
        })
        .collect();
    assert_eq!(holidays, ["2026-11-03", "2026-11-23"]);
}
