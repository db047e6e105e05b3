//! The review of the whole month over the collected root (issue 13, item 7): every terminal's
//! records through the central verification's streams, merged by time and reviewed at once,
//! with its wall time and peak memory; and the same over a week of the same terminals, to
//! show that memory does not grow with the month's length. Each review runs in a process of
//! its own (this binary again, `CARDGATE_REVIEW_CHILD=<terminals> <days>`), so that its peak
//! resident memory is its own and not what an earlier run left behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use cardgate_audit::collected::list_terminals;
use cardgate_audit::report::collected::{judge, CollectedLog};
use cardgate_audit::report::{review_all, LogSource, ReportOptions, VerificationStatus};
use cardgate_audit::{SealKey, Timestamp};

const CHILD: &str = "CARDGATE_REVIEW_CHILD";

/// One review's figures.
struct Reviewed {
    seconds: f64,
    records: u64,
    findings: usize,
    notes: usize,
    peak_kib: u64,
}

/// Reviews every terminal under `root`, each with its k(0), as `audit report --collected
/// --keys` does (Japan's business hours and calendar, no card register: every card's first
/// use waits for an issue that never comes; the cross-terminal checks run at every login).
fn review(root: &Path, keys: &BTreeMap<String, SealKey>, now: Timestamp) -> Reviewed {
    let started = Instant::now();
    let judge = judge(Some(now), 60);
    let sources: Vec<Box<dyn LogSource>> = list_terminals(root)
        .unwrap()
        .iter()
        .map(|t| {
            Box::new(CollectedLog::open(t, keys.get(&t.host).cloned(), judge)) as Box<dyn LogSource>
        })
        .collect();
    let options = ReportOptions {
        now: Some(now),
        ..ReportOptions::default()
    };
    let report = review_all(&[], sources, &options).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        report.verification,
        Some(VerificationStatus::Intact),
        "the generated month verifies"
    );
    Reviewed {
        seconds,
        records: report.logs.iter().map(|l| l.records).sum(),
        findings: report.findings.len(),
        notes: report.notes.len(),
        peak_kib: super::peak_rss_kib(),
    }
}

fn now_after(days: usize) -> Timestamp {
    Timestamp(super::MONTH_START_MS + days as i64 * 24 * super::HOUR)
}

/// In the child: reviews the month `CARDGATE_REVIEW_CHILD` names, prints its figures as the
/// last line, and says so (`main` then returns).
pub fn child() -> bool {
    let Ok(spec) = std::env::var(CHILD) else {
        return false;
    };
    let mut it = spec.split(' ').map(|n| n.parse::<usize>().unwrap());
    let (terminals, days) = (it.next().unwrap(), it.next().unwrap());
    let (root, keys) = super::month(terminals, days);
    let r = review(&root, &keys, now_after(days));
    println!(
        "{} {} {} {} {}",
        r.seconds, r.records, r.findings, r.notes, r.peak_kib
    );
    true
}

/// Runs the review of `terminals` x `days` in a child process.
fn in_child(terminals: usize, days: usize) -> Reviewed {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD, format!("{terminals} {days}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let f: Vec<&str> = last.split(' ').collect();
    Reviewed {
        seconds: f[0].parse().unwrap(),
        records: f[1].parse().unwrap(),
        findings: f[2].parse().unwrap(),
        notes: f[3].parse().unwrap(),
        peak_kib: f[4].parse().unwrap(),
    }
}

fn rows(what: &str, r: &Reviewed) -> Vec<(String, String)> {
    vec![
        (
            format!("review, {what}"),
            format!(
                "{:.2} s, {:.2} M records/s, peak memory {} MiB",
                r.seconds,
                r.records as f64 / r.seconds / 1e6,
                r.peak_kib / 1024
            ),
        ),
        (
            "  records, findings, notes".to_owned(),
            format!("{}, {}, {}", r.records, r.findings, r.notes),
        ),
    ]
}

/// The rows for the bench's table: the month's review and the week's.
pub fn of_the_month(_root: &Path, _keys: &BTreeMap<String, SealKey>) -> Vec<(String, String)> {
    let terminals = super::env_or("CARDGATE_MONTH_TERMINALS", 1000);
    let days = super::env_or("CARDGATE_MONTH_DAYS", 30).clamp(1, 30);
    println!();
    let mut out = Vec::new();
    if days > 7 {
        // Generated (or taken from the cache) here, so that the child only reviews.
        super::month(terminals, 7);
        let week = in_child(terminals, 7);
        out.extend(rows(&format!("{terminals} terminals x 7 days"), &week));
    }
    let month = in_child(terminals, days);
    out.extend(rows(
        &format!("{terminals} terminals x {days} days"),
        &month,
    ));
    out
}
