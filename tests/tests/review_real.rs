//! The access manager's review on logs that only the real daemon wrote: the scripted day and
//! month (`cardgate_tests::scripted`) through the real stack, and what the records say.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_audit::{Event, Record};
use cardgate_tests::scripted::{scripted_day, scripted_month, Scripted};

fn records(s: &Scripted) -> Vec<Record> {
    s.office
        .audit_lines()
        .iter()
        .map(|l| Record::parse(l.as_bytes()).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_scripted_day_runs() {
    let day = scripted_day().unwrap();
    for line in day.office.audit_lines() {
        eprintln!("{line}");
    }
    let records = records(&day);
    assert!(records
        .iter()
        .any(|r| matches!(r.event, Event::LoginGranted { .. })));
    eprintln!("{:#?}", day.findings);
}

#[test]
fn the_scripted_month_runs() {
    let month = scripted_month().unwrap();
    let records = records(&month);
    eprintln!("{} records", records.len());
    eprintln!("{:#?}", month.findings);
}
