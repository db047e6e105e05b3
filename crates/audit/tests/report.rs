//! The review's checkpoint on real log files (written by the real writer, on the real file
//! system): a log that still extends the last review's checkpoint is not a finding; one
//! replaced by a fresh chain, truncated, rewritten, rolled back or deleted is, at the top.
//! Tests of what the review finds in card use on one terminal run on logs the daemon wrote
//! (`crates/sessiond/tests/review.rs`). Here, the review across logs (issue 13): several
//! terminals' logs, each written by the real writer on its own clock, merged by time, with
//! the findings that only show across logs (one operator or card on two terminals at once, a
//! card used on a terminal after its return was recorded on the access manager's host).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};

use cardgate_audit::report::{
    review, Break, Checkpoint, Detail, FindingKind, ReportError, ReportOptions, Severity,
    VerificationStatus,
};
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label, NoteKind, SealKey, Text};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cardgate-review-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn host() -> Label {
    Label::new("juki-host").unwrap()
}

/// A fresh log with `notes` records after its genesis, sealed every 4 records; its k(0).
fn log_with(dir: &Path, notes: usize) -> SealKey {
    let k0 = AuditLog::init(dir, host(), &cardgate_audit::SystemClock).unwrap();
    append(dir, notes);
    k0
}

fn append(dir: &Path, notes: usize) {
    let mut config = AuditConfig::new(dir, host());
    config.seal_every_records = 4;
    let (log, _) = AuditLog::open(config).unwrap();
    for i in 0..notes {
        log.append(Entry::new(Event::Note {
            note: NoteKind::Other,
            text: Text::new(format!("note {i}")).unwrap(),
            who: None,
            escort: None,
            by: None,
        }))
        .unwrap();
    }
    log.close().unwrap();
}

fn first_review(dir: &Path, key: &SealKey) -> Checkpoint {
    let options = ReportOptions {
        key: Some(key.clone()),
        ..ReportOptions::default()
    };
    let report = review(&[dir], &options).unwrap();
    assert_eq!(report.verification, Some(VerificationStatus::Intact));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let checkpoint = report.checkpoint.unwrap();
    // It goes through its file, as the access manager keeps it.
    let file = dir.parent().unwrap().join("checkpoint.json");
    checkpoint.write(&file).unwrap();
    Checkpoint::read(&file).unwrap()
}

fn second_review(dirs: &[&Path], checkpoint: Checkpoint) -> Vec<(FindingKind, Option<Break>)> {
    let options = ReportOptions {
        previous: Some(checkpoint),
        ..ReportOptions::default()
    };
    let report = review(dirs, &options).unwrap();
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .map(|f| {
            let how = match &f.detail {
                Detail::LogNotExtended { how, .. } => Some(*how),
                _ => None,
            };
            (f.kind, how)
        })
        .collect()
}

#[test]
fn a_log_that_grew_extends_its_checkpoint() {
    let root = temp("grew");
    let dir = root.join("audit");
    let key = log_with(&dir, 9);
    let checkpoint = first_review(&dir, &key);
    assert_eq!(checkpoint.logs.len(), 1);
    append(&dir, 5);
    let options = ReportOptions {
        previous: Some(checkpoint),
        key: Some(key),
        ..ReportOptions::default()
    };
    let report = review(&[dir.as_path()], &options).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.previous_checkpoint.unwrap().extended);
    std::fs::remove_dir_all(&root).unwrap();
}

// "Deleting or replacing the whole log is undetectable": the log is copied away, deleted
// and initialised afresh, and the next review is given the new one.
#[test]
fn a_log_replaced_by_a_fresh_chain_is_a_critical_finding() {
    let root = temp("replaced");
    let dir = root.join("audit");
    let key = log_with(&dir, 9);
    let checkpoint = first_review(&dir, &key);
    let copy = root.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let _fresh = log_with(&dir, 20);
    assert_eq!(
        second_review(&[dir.as_path()], checkpoint.clone()),
        [(FindingKind::LogNotExtended, Some(Break::Replaced))]
    );
    // The copy still extends it.
    assert_eq!(second_review(&[copy.as_path()], checkpoint), []);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_truncated_log_is_a_critical_finding_and_does_not_verify() {
    let root = temp("truncated");
    let dir = root.join("audit");
    let key = log_with(&dir, 9);
    let checkpoint = first_review(&dir, &key);
    let (_, segment) = cardgate_audit::segments::list_segments(&dir)
        .unwrap()
        .pop()
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept: String = lines[..lines.len() - 3]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&segment, kept).unwrap();
    let found = second_review(&[dir.as_path()], checkpoint);
    assert!(
        found.contains(&(FindingKind::LogNotExtended, Some(Break::Truncated))),
        "{found:?}"
    );
    assert!(
        found.contains(&(FindingKind::LogNotIntact, None)),
        "{found:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

// An older copy of the whole directory put back (its key file with it) is whole in itself:
// only the checkpoint shows that it went back.
#[test]
fn a_log_rolled_back_to_an_older_copy_is_a_critical_finding() {
    let root = temp("rolledback");
    let dir = root.join("audit");
    let key = log_with(&dir, 5);
    let old = root.join("old");
    std::fs::create_dir_all(&old).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), old.join(entry.file_name())).unwrap();
    }
    append(&dir, 9);
    let checkpoint = first_review(&dir, &key);
    assert_eq!(
        second_review(&[old.as_path()], checkpoint.clone()),
        [(FindingKind::LogNotExtended, Some(Break::RolledBack))]
    );
    // A log deleted, and not given, is missing.
    let other = root.join("other-host");
    let k = AuditLog::init(
        &other,
        Label::new("other").unwrap(),
        &cardgate_audit::SystemClock,
    )
    .unwrap();
    drop(k);
    assert_eq!(
        second_review(&[other.as_path()], checkpoint.clone()),
        [(FindingKind::LogNotExtended, Some(Break::Missing))]
    );
    // A directory deleted outright, with a checkpoint to say so, is that finding too.
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        second_review(&[dir.as_path()], checkpoint),
        [(FindingKind::LogNotExtended, Some(Break::Missing))]
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_rewritten_record_breaks_the_checkpoint() {
    let root = temp("rewritten");
    let dir = root.join("audit");
    let key = log_with(&dir, 9);
    let checkpoint = first_review(&dir, &key);
    let (_, segment) = cardgate_audit::segments::list_segments(&dir)
        .unwrap()
        .pop()
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    // The checkpoint's record is the last one (the seal the close wrote): another line
    // in its place.
    let last = text.lines().last().unwrap().to_owned();
    let (head, mac) = last.split_once("\"mac\":\"").unwrap();
    let flipped = if mac.starts_with('0') { "1" } else { "0" };
    let forged = format!("{head}\"mac\":\"{flipped}{}", &mac[1..]);
    std::fs::write(&segment, text.replace(&last, &forged)).unwrap();
    let found = second_review(&[dir.as_path()], checkpoint);
    assert!(
        found.contains(&(FindingKind::LogNotExtended, Some(Break::Rewritten))),
        "{found:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

// Point 6: a mistyped k(0) fails at the very first seal, and the report says that the key
// may be wrong, not only that the log is not intact.
#[test]
fn a_wrong_key_is_named_as_possibly_wrong_and_no_key_is_unverified() {
    let root = temp("wrongkey");
    let dir = root.join("audit");
    let key = log_with(&dir, 9);
    let wrong = SealKey::from_bytes([0x42; 32]);
    let options = ReportOptions {
        key: Some(wrong.clone()),
        ..ReportOptions::default()
    };
    let report = review(&[dir.as_path()], &options).unwrap();
    assert_eq!(report.verification, Some(VerificationStatus::NotIntact));
    assert_eq!(
        report.key_fingerprint.as_deref(),
        Some(cardgate_audit::report::key_fingerprint(&wrong).as_str())
    );
    let v = &report.logs[0].verification;
    assert!(v.key_may_be_wrong, "{v:?}");
    let first = &report.findings[0];
    assert_eq!(first.kind, FindingKind::LogNotIntact);
    assert!(matches!(
        first.detail,
        Detail::LogNotIntact {
            key_may_be_wrong: true,
            ..
        }
    ));
    // The right key verifies it; none leaves it unverified, and says so.
    let right = ReportOptions {
        key: Some(key),
        ..ReportOptions::default()
    };
    let report = review(&[dir.as_path()], &right).unwrap();
    assert_eq!(report.verification, Some(VerificationStatus::Intact));
    assert!(!report.logs[0].verification.key_may_be_wrong);
    let report = review(&[dir.as_path()], &ReportOptions::default()).unwrap();
    assert_eq!(report.verification, Some(VerificationStatus::Unverified));
    assert_eq!(report.key_fingerprint, None);
    std::fs::remove_dir_all(&root).unwrap();
}

// A `--dir` given twice, or by another path to it, was read twice (13 records became 26).
#[test]
fn a_log_given_twice_or_by_two_paths_is_read_once() {
    let root = temp("twice");
    let dir = root.join("audit");
    let _key = log_with(&dir, 9);
    let once = review(&[dir.as_path()], &ReportOptions::default()).unwrap();
    let other_path = root.join("audit/../audit/.");
    let link = root.join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let thrice = review(
        &[dir.as_path(), other_path.as_path(), link.as_path()],
        &ReportOptions::default(),
    )
    .unwrap();
    assert_eq!(thrice.logs.len(), 1);
    assert_eq!(thrice.records, once.records);
    assert_eq!(thrice.notes.len(), 9);
    assert!(matches!(
        review(&[root.join("nothing").as_path()], &ReportOptions::default()),
        Err(ReportError::Dir { .. })
    ));
    std::fs::remove_dir_all(&root).unwrap();
}

// Records cut from the middle of a log: the numbers missing are a finding of their own, with
// the log's verification failing there.
#[test]
fn records_missing_from_the_middle_are_a_gap() {
    let root = temp("gap");
    let dir = root.join("audit");
    let _key = log_with(&dir, 9);
    let (_, segment) = cardgate_audit::segments::list_segments(&dir)
        .unwrap()
        .pop()
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("{\"seq\":3,") && !l.starts_with("{\"seq\":4,"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(kept.lines().count() + 2, text.lines().count());
    std::fs::write(&segment, kept).unwrap();
    let report = review(&[dir.as_path()], &ReportOptions::default()).unwrap();
    let kinds: Vec<_> = report.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::LogNotIntact, FindingKind::RecordGap]);
    assert_eq!(
        report.findings[1].detail,
        Detail::RecordGap {
            first_missing: 3,
            last_missing: 4
        }
    );
    assert_eq!(report.findings[1].records[0].seq, 5);
    assert!(matches!(
        report.findings[0].detail,
        Detail::LogNotIntact { first_bad: 5, .. }
    ));
    std::fs::remove_dir_all(&root).unwrap();
}

// ---- The review across logs (issue 13) -------------------------------------------------------

use cardgate_audit::record::EndReason;
use cardgate_audit::Timestamp;
use cardgate_card::{CardSerial, Role};
use common::ManualClock;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// A terminal's log written by the real writer on a clock of its own: each `(time, entry)` is
/// appended at its time.
fn terminal_log(dir: &Path, host: &str, start: &str, entries: Vec<(&str, Entry)>) -> SealKey {
    let clock = ManualClock::at(at(start));
    let k0 = AuditLog::init(dir, Label::new(host).unwrap(), &clock).unwrap();
    let mut config = AuditConfig::new(dir, Label::new(host).unwrap());
    config.seal_every_records = 5;
    config.clock = std::sync::Arc::new(clock.clone());
    let (log, _) = AuditLog::open(config).unwrap();
    for (t, e) in entries {
        clock.set(at(t));
        log.append(e).unwrap();
    }
    log.close().unwrap();
    k0
}

fn note(text: &str) -> Entry {
    Entry::new(Event::Note {
        note: NoteKind::Other,
        text: Text::new(text).unwrap(),
        who: None,
        escort: None,
        by: None,
    })
}

fn card(n: u64) -> CardSerial {
    CardSerial(n.to_be_bytes())
}

fn login(card_no: u64, operator: &str) -> Entry {
    Entry::new(Event::LoginGranted {
        role: Role::Operator,
    })
    .card(card(card_no))
    .operator(Label::new(operator).unwrap())
    .reader(Label::new("reader 0").unwrap())
}

fn logout(card_no: u64, operator: &str) -> Entry {
    Entry::new(Event::SessionEnded {
        reason: EndReason::Logout,
        session_type: None,
        logind_state: None,
    })
    .card(card(card_no))
    .operator(Label::new(operator).unwrap())
    .reader(Label::new("reader 0").unwrap())
}

// The merge: every log's records in time order across logs, records of equal time in the
// order the logs were given, and each log's own (two notes in the same millisecond) in its
// order.
#[test]
fn records_of_several_logs_are_merged_by_time_ties_in_the_order_given() {
    let root = temp("merge");
    let (a, b, c) = (root.join("a"), root.join("b"), root.join("c"));
    terminal_log(
        &a,
        "host-a",
        "2026-11-02T00:00:00.000Z",
        vec![
            ("2026-11-02T01:00:00.000Z", note("a1")),
            ("2026-11-02T03:00:00.000Z", note("a3")),
            ("2026-11-02T03:00:00.000Z", note("a3bis")),
            ("2026-11-02T05:00:00.000Z", note("a5")),
        ],
    );
    terminal_log(
        &b,
        "host-b",
        "2026-11-02T00:00:00.000Z",
        vec![
            ("2026-11-02T02:00:00.000Z", note("b2")),
            ("2026-11-02T03:00:00.000Z", note("b3")),
            ("2026-11-02T06:00:00.000Z", note("b6")),
        ],
    );
    terminal_log(
        &c,
        "host-c",
        "2026-11-01T00:00:00.000Z",
        vec![
            ("2026-11-01T12:00:00.000Z", note("c0")),
            ("2026-11-02T03:00:00.000Z", note("c3")),
        ],
    );
    let order = |dirs: &[&Path]| -> Vec<String> {
        review(dirs, &ReportOptions::default())
            .unwrap()
            .notes
            .iter()
            .map(|n| n.text.clone())
            .collect()
    };
    assert_eq!(
        order(&[&a, &b, &c]),
        ["c0", "a1", "b2", "a3", "a3bis", "b3", "c3", "a5", "b6"]
    );
    // Ties follow the order of the directories given.
    assert_eq!(
        order(&[&c, &b, &a]),
        ["c0", "a1", "b2", "c3", "b3", "a3", "a3bis", "a5", "b6"]
    );
    std::fs::remove_dir_all(&root).unwrap();
}

// One operator in sessions on two hosts at once, and one card on two hosts at once: each log
// alone has nothing to find; the two together do.
#[test]
fn an_operator_or_a_card_on_two_hosts_at_once_is_found_across_logs() {
    let root = temp("twohosts");
    let (t1, t2) = (root.join("t1"), root.join("t2"));
    terminal_log(
        &t1,
        "juki-01",
        "2026-11-02T00:00:00.000Z",
        vec![
            ("2026-11-02T01:00:00.000Z", login(1, "op-yamada")),
            ("2026-11-02T02:00:00.000Z", logout(1, "op-yamada")),
            ("2026-11-02T04:00:00.000Z", login(7, "op-sato")),
            ("2026-11-02T05:00:00.000Z", logout(7, "op-sato")),
        ],
    );
    terminal_log(
        &t2,
        "juki-02",
        "2026-11-02T00:00:00.000Z",
        vec![
            // Yamada with another card while her session on juki-01 is open.
            ("2026-11-02T01:30:00.000Z", login(2, "op-yamada")),
            ("2026-11-02T01:40:00.000Z", logout(2, "op-yamada")),
            // Sato's card on juki-02 while it is in a session on juki-01.
            ("2026-11-02T04:30:00.000Z", login(7, "op-sato")),
            ("2026-11-02T04:40:00.000Z", logout(7, "op-sato")),
        ],
    );
    let kinds = |dirs: &[&Path]| -> Vec<(FindingKind, Option<String>, Option<String>)> {
        review(dirs, &ReportOptions::default())
            .unwrap()
            .findings
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    FindingKind::OperatorOnTwoTerminals | FindingKind::CardOnTwoTerminals
                )
            })
            .map(|f| (f.kind, f.terminal.clone(), f.operator.clone()))
            .collect()
    };
    assert_eq!(kinds(&[&t1]), []);
    assert_eq!(kinds(&[&t2]), []);
    let both = kinds(&[&t1, &t2]);
    assert_eq!(
        both,
        [
            (
                FindingKind::OperatorOnTwoTerminals,
                Some("juki-02".to_owned()),
                Some("op-yamada".to_owned())
            ),
            (
                FindingKind::CardOnTwoTerminals,
                Some("juki-02".to_owned()),
                Some("op-sato".to_owned())
            ),
        ]
    );
    // The finding names the other log's record: both logs are in it.
    let report = review(&[&t1, &t2], &ReportOptions::default()).unwrap();
    let two = report
        .of_kind(FindingKind::CardOnTwoTerminals)
        .next()
        .unwrap();
    let logs: std::collections::BTreeSet<&str> =
        two.records.iter().map(|r| r.log.as_str()).collect();
    assert_eq!(logs.len(), 2, "{:?}", two.records);
    std::fs::remove_dir_all(&root).unwrap();
}

// A return recorded on the access manager's host, and the card used after it on a terminal:
// use after return, across logs; the use before the return is not.
#[test]
fn a_card_used_on_a_terminal_after_its_return_on_the_managers_host_is_found() {
    let root = temp("afterreturn");
    let (manager, t1) = (root.join("manager"), root.join("t1"));
    let manager_label = Label::new("kanri").unwrap();
    terminal_log(
        &manager,
        "kanri-pc",
        "2026-11-02T00:00:00.000Z",
        vec![
            (
                "2026-11-02T00:10:00.000Z",
                Entry::new(Event::CardIssued {
                    by: manager_label.clone(),
                    role: Role::Operator,
                })
                .card(card(9))
                .operator(Label::new("op-suzuki").unwrap()),
            ),
            (
                "2026-11-02T03:00:00.000Z",
                Entry::new(Event::CardReturned {
                    by: manager_label.clone(),
                })
                .card(card(9))
                .operator(Label::new("op-suzuki").unwrap()),
            ),
        ],
    );
    terminal_log(
        &t1,
        "juki-01",
        "2026-11-02T00:00:00.000Z",
        vec![
            ("2026-11-02T01:00:00.000Z", login(9, "op-suzuki")),
            ("2026-11-02T01:30:00.000Z", logout(9, "op-suzuki")),
            ("2026-11-02T04:00:00.000Z", login(9, "op-suzuki")),
            ("2026-11-02T04:30:00.000Z", logout(9, "op-suzuki")),
        ],
    );
    // Without the manager's log: the card was never issued in the logs reviewed (once).
    let alone = review(&[t1.as_path()], &ReportOptions::default()).unwrap();
    assert_eq!(alone.of_kind(FindingKind::CardNeverIssued).count(), 1);
    assert_eq!(alone.of_kind(FindingKind::UseAfterReturn).count(), 0);
    // Given after the terminal's (the issue comes earlier in time, later in the order of
    // logs): the card was issued, and the second use came after its return.
    let report = review(
        &[t1.as_path(), manager.as_path()],
        &ReportOptions::default(),
    )
    .unwrap();
    assert_eq!(report.of_kind(FindingKind::CardNeverIssued).count(), 0);
    let after: Vec<_> = report.of_kind(FindingKind::UseAfterReturn).collect();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].time, Some(at("2026-11-02T04:00:00.000Z")));
    assert_eq!(after[0].terminal.as_deref(), Some("juki-01"));
    let Detail::AfterWithdrawal { record, .. } = &after[0].detail else {
        panic!("{:?}", after[0].detail);
    };
    assert!(record.as_ref().unwrap().log.ends_with("/manager"));
    std::fs::remove_dir_all(&root).unwrap();
}

// ---- The review over the collector's files (issue 13, item 4) --------------------------------

use cardgate_audit::collected::list_terminals;
use cardgate_audit::report::collected::{judge, CollectedLog};
use cardgate_audit::report::{review_all, LogSource};

/// Lays a terminal's log out as the collector holds it: `<root>/<host>/2026-11.jsonl`, its
/// segments' lines concatenated in order, after `edit` (drop, repeat or change lines).
fn collect(root: &Path, host: &str, log: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let mut lines = Vec::new();
    for (_, segment) in cardgate_audit::segments::list_segments(log).unwrap() {
        lines.extend(
            std::fs::read_to_string(segment)
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    edit(&mut lines);
    let dir = root.join(host);
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("2026-11.jsonl"), text).unwrap();
}

/// The review of every terminal under `root`, each with its k(0) from `keys`.
fn review_collected(
    root: &Path,
    keys: &[(&str, &SealKey)],
    options: &ReportOptions,
) -> cardgate_audit::report::Report {
    let judge = judge(Some(at("2026-11-02T06:00:00.000Z")), 60);
    let sources: Vec<Box<dyn LogSource>> = list_terminals(root)
        .unwrap()
        .iter()
        .map(|t| {
            let key = keys
                .iter()
                .find(|(h, _)| *h == t.host)
                .map(|(_, k)| (*k).clone());
            Box::new(CollectedLog::open(t, key, judge)) as Box<dyn LogSource>
        })
        .collect();
    review_all(&[], sources, options).unwrap()
}

// Three terminals and the access manager's host, collected: one operator on two terminals at
// once, one card on two, a use after a return recorded on the manager's host, all found over
// the collector's files; every terminal verified with its own k(0); arrival quirks (a line
// twice, lines out of order) are not findings; the terminals' own troubles (a gap, a line
// that no longer matches what the collector holds, silence) are, at the top.
#[test]
fn the_review_over_collected_terminals_finds_what_only_shows_across_them() {
    let root = temp("collected");
    let logs = root.join("logs");
    let collector = root.join("collector");
    let manager_label = Label::new("kanri").unwrap();
    let k_manager = terminal_log(
        &logs.join("kanri-pc"),
        "kanri-pc",
        "2026-11-02T00:00:00.000Z",
        vec![
            (
                "2026-11-02T00:05:00.000Z",
                Entry::new(Event::CardIssued {
                    by: manager_label.clone(),
                    role: Role::Operator,
                })
                .card(card(9))
                .operator(Label::new("op-suzuki").unwrap()),
            ),
            (
                "2026-11-02T03:00:00.000Z",
                Entry::new(Event::CardReturned {
                    by: manager_label.clone(),
                })
                .card(card(9))
                .operator(Label::new("op-suzuki").unwrap()),
            ),
            ("2026-11-02T05:50:00.000Z", Entry::new(Event::Heartbeat)),
        ],
    );
    let k1 = terminal_log(
        &logs.join("juki-01"),
        "juki-01",
        "2026-11-02T00:00:00.000Z",
        vec![
            ("2026-11-02T01:00:00.000Z", login(1, "op-yamada")),
            ("2026-11-02T02:00:00.000Z", logout(1, "op-yamada")),
            ("2026-11-02T04:00:00.000Z", login(7, "op-sato")),
            ("2026-11-02T05:00:00.000Z", logout(7, "op-sato")),
            ("2026-11-02T05:55:00.000Z", Entry::new(Event::Heartbeat)),
        ],
    );
    let k2 = terminal_log(
        &logs.join("juki-02"),
        "juki-02",
        "2026-11-02T00:00:00.000Z",
        vec![
            ("2026-11-02T01:30:00.000Z", login(2, "op-yamada")),
            ("2026-11-02T01:40:00.000Z", logout(2, "op-yamada")),
            ("2026-11-02T04:30:00.000Z", login(7, "op-sato")),
            ("2026-11-02T04:40:00.000Z", logout(7, "op-sato")),
            ("2026-11-02T05:56:00.000Z", Entry::new(Event::Heartbeat)),
        ],
    );
    // juki-03 goes quiet at 02:30: silent at 06:00 with an hour allowed.
    let k3 = terminal_log(
        &logs.join("juki-03"),
        "juki-03",
        "2026-11-02T00:00:00.000Z",
        vec![
            ("2026-11-02T01:00:00.000Z", login(3, "op-tanaka")),
            ("2026-11-02T02:00:00.000Z", logout(3, "op-tanaka")),
            ("2026-11-02T02:30:00.000Z", login(9, "op-suzuki")),
            ("2026-11-02T02:45:00.000Z", logout(9, "op-suzuki")),
            ("2026-11-02T04:10:00.000Z", login(9, "op-suzuki")),
        ],
    );
    // Its last record is the seal `close` writes at 04:10, not the daemon's stop.
    collect(&collector, "kanri-pc", &logs.join("kanri-pc"), |_| {});
    // A line twice, and two lines swapped: how shipping delivers, not a finding.
    collect(&collector, "juki-01", &logs.join("juki-01"), |l| {
        let again = l[3].clone();
        l.insert(6, again);
        l.swap(4, 5);
    });
    collect(&collector, "juki-02", &logs.join("juki-02"), |_| {});
    // juki-03's log reaches the collector under its machine's name: its records, which name
    // juki-03, are placed as pc-03/juki-03.
    collect(&collector, "pc-03", &logs.join("juki-03"), |_| {});
    let keys = [
        ("kanri-pc", &k_manager),
        ("juki-01", &k1),
        ("juki-02", &k2),
        ("pc-03", &k3),
    ];
    // The register has every card (the manager's issue of card 9 is in the logs too).
    // The collector's review run with one terminal's configuration: its `[[terminal]]`
    // reader (every host's reader has that name) is that host's alone, and places no other
    // host's records.
    let options = ReportOptions {
        register: Some([1, 2, 3, 7, 9].map(|n| card(n).to_string()).into()),
        terminals: [("reader 0".to_owned(), "T-OF-ONE-HOST".to_owned())].into(),
        ..ReportOptions::default()
    };
    let report = review_collected(&collector, &keys, &options);
    assert_eq!(report.logs.len(), 4);
    assert_eq!(report.verification, Some(VerificationStatus::Intact));
    let mut found: Vec<(FindingKind, Option<String>)> = report
        .findings
        .iter()
        .filter(|f| {
            !matches!(
                f.kind,
                FindingKind::OutsideBusinessHours | FindingKind::SessionNeverEnded
            )
        })
        .map(|f| (f.kind, f.terminal.clone()))
        .collect();
    found.sort_by_key(|f| format!("{f:?}"));
    let t = |s: &str| Some(s.to_owned());
    assert_eq!(
        found,
        [
            (FindingKind::CardOnTwoTerminals, t("juki-02")),
            (FindingKind::OperatorOnTwoTerminals, t("juki-02")),
            (FindingKind::TerminalSilent, t("pc-03")),
            (FindingKind::UseAfterReturn, t("pc-03/juki-03")),
        ],
        "{:#?}",
        report.findings
    );
    let after = report.of_kind(FindingKind::UseAfterReturn).next().unwrap();
    assert_eq!(after.time, Some(at("2026-11-02T04:10:00.000Z")));
    // The checkpoint has every terminal's log.
    assert_eq!(report.checkpoint.as_ref().unwrap().logs.len(), 4);

    // Now juki-02's record 3 is lost on the way and juki-01's record 2 arrives again with
    // other content (its log was rewritten after it was shipped): a gap, and a critical
    // finding at the very top; the review is not to be trusted.
    collect(&collector, "juki-02", &logs.join("juki-02"), |l| {
        l.remove(3);
    });
    collect(&collector, "juki-01", &logs.join("juki-01"), |l| {
        let forged = l[2].replace("op-yamada", "op-someone");
        l.push(forged);
    });
    let report = review_collected(&collector, &keys, &options);
    // At the top: juki-02's copy does not verify past the gap, juki-01's conflicts.
    let critical: Vec<_> = report
        .findings
        .iter()
        .take_while(|f| f.severity == Severity::Critical)
        .map(|f| {
            (
                f.kind,
                f.log.as_deref().unwrap().rsplit('/').next().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        critical,
        [
            (FindingKind::LogNotIntact, "juki-02"),
            (FindingKind::TerminalConflict, "juki-01")
        ],
        "{:#?}",
        report.findings
    );
    let first = report
        .of_kind(FindingKind::TerminalConflict)
        .next()
        .unwrap();
    assert_eq!(first.terminal.as_deref(), Some("juki-01"));
    assert!(matches!(
        first.detail,
        Detail::Terminal {
            count: 1,
            seq: Some(2),
            ..
        }
    ));
    let gap: Vec<_> = report.of_kind(FindingKind::RecordGap).collect();
    assert_eq!(gap.len(), 1, "{:#?}", report.findings);
    assert_eq!(
        gap[0].detail,
        Detail::RecordGap {
            first_missing: 3,
            last_missing: 3
        }
    );
    assert!(!cardgate_audit::report::render::is_trusted(&report));
    // Both languages say it.
    for lang in cardgate_i18n::Lang::ALL {
        let view = cardgate_audit::report::render::View::new(lang);
        let text = cardgate_audit::report::render::text(&report, &view);
        let label = cardgate_audit::report::render::kind_label("terminal_conflict", lang);
        assert!(text.contains(&label), "{lang}: {text}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

// A finding that rests on records after the last seal says so: they could still be rewritten
// or planted unseen. The review of a live log (the daemon holding it open) sees its unsealed
// tail; once the log is closed (and so sealed), the same finding no longer says it.
#[test]
fn a_finding_on_records_after_the_last_seal_says_they_are_unsealed() {
    let root = temp("unsealed");
    let dir = root.join("juki-01");
    let clock = ManualClock::at(at("2026-11-02T00:00:00.000Z"));
    AuditLog::init(&dir, Label::new("juki-01").unwrap(), &clock).unwrap();
    let mut config = AuditConfig::new(&dir, Label::new("juki-01").unwrap());
    config.seal_every_records = 1000;
    config.clock = std::sync::Arc::new(clock.clone());
    let (log, _) = AuditLog::open(config).unwrap();
    // 21:00 in Japan: outside business hours.
    clock.set(at("2026-11-02T12:00:00.000Z"));
    log.append(login(1, "op-yamada")).unwrap();
    clock.set(at("2026-11-02T12:30:00.000Z"));
    log.append(logout(1, "op-yamada")).unwrap();
    let outside = |report: &cardgate_audit::report::Report| {
        report
            .of_kind(FindingKind::OutsideBusinessHours)
            .next()
            .cloned()
            .unwrap()
    };
    let live = review(&[dir.as_path()], &ReportOptions::default()).unwrap();
    assert!(outside(&live).unsealed, "{:?}", live.findings);
    for (lang, words) in [
        (cardgate_i18n::Lang::En, "not yet under a valid seal"),
        (cardgate_i18n::Lang::Ja, "有効な封印の前の記録"),
    ] {
        let view = cardgate_audit::report::render::View::new(lang);
        let text = cardgate_audit::report::render::text(&live, &view);
        assert!(text.contains(words), "{lang}: {text}");
    }
    log.close().unwrap();
    let closed = review(&[dir.as_path()], &ReportOptions::default()).unwrap();
    assert!(!outside(&closed).unsealed, "{:?}", closed.findings);
    let view = cardgate_audit::report::render::View::new(cardgate_i18n::Lang::En);
    assert!(!cardgate_audit::report::render::text(&closed, &view).contains("not yet under"));
    std::fs::remove_dir_all(&root).unwrap();
}
