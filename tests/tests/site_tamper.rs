//! A terminal's log rewritten and re-sealed, truncated and continued, or replaced by a fresh
//! chain, on a running site (issue 13, items 3 and 6), by the strongest attacker: root with
//! the terminal's k(0) (`cardgate_tests::site_attack`). Each time the terminal's own log
//! verifies with its k(0) and `cardgated` runs on it again; the collector still holds what
//! was shipped before, next to what the terminal sends now, and the central verification
//! (`cardgatectl audit collected`) and the review on the collector report each as critical.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_audit::{Event, Label, Record};
use cardgate_tests::site::{Site, SiteTerminal};
use cardgate_tests::site_attack::{replace_log, rewrite_and_reseal, truncate_after};
use std::collections::HashMap;

fn records(lines: &[String]) -> Vec<Record> {
    lines
        .iter()
        .map(|l| Record::parse(l.as_bytes()).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The collected lines of `host` by record number: every distinct line that arrived for it.
fn collected_by_seq(site: &Site, host: &str) -> HashMap<u64, Vec<String>> {
    let mut by_seq: HashMap<u64, Vec<String>> = HashMap::new();
    for line in site.collector.lines(host) {
        let seq = Record::parse(line.as_bytes()).unwrap().seq;
        let lines = by_seq.entry(seq).or_default();
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    by_seq
}

fn some_logins(t: &SiteTerminal, tag: &str, n: usize) {
    for i in 0..n {
        t.login_and_out(&format!("{tag}{i}")).unwrap();
    }
}

#[test]
fn a_rewritten_truncated_or_replaced_log_is_a_finding_at_the_collector() {
    let mut site = Site::start(&["juki-r1", "juki-r2", "juki-r3"], "").unwrap();
    for t in &site.terminals {
        some_logins(t, "a", 3);
    }
    for t in &mut site.terminals {
        t.stop_daemon();
    }
    site.wait_all_shipped();
    let shipped: Vec<Vec<String>> = site.terminals.iter().map(|t| t.local_lines()).collect();

    // juki-r1: the first login's operator changed, every record after it re-linked, every
    // seal re-made with its epoch's key from k(0).
    let t = &site.terminals[0];
    let changed = rewrite_and_reseal(&t.office, |r| {
        let first_login = matches!(r.event, Event::LoginGranted { .. })
            && r.operator.as_ref().is_some_and(|o| o.as_str() != "op-9999");
        if first_login {
            r.operator = Some(Label::new("op-9999").unwrap());
        }
        first_login
    })
    .unwrap();
    let rewritten = changed[0];

    // juki-r2: cut back to just before its second login (the records of that login and
    // after gone, the seals after the cut with them), the key file made to match the last
    // seal kept; the daemon then continues the chain from the cut.
    let t = &site.terminals[1];
    let recs = records(&shipped[1]);
    let second_login = recs
        .iter()
        .filter(|r| matches!(r.event, Event::LoginGranted { .. }))
        .nth(1)
        .unwrap()
        .seq;
    // The chain is cut just before the records of that login (after the first logout).
    let cut = recs
        .iter()
        .rev()
        .find(|r| r.seq < second_login && matches!(r.event, Event::SessionEnded { .. }))
        .unwrap()
        .seq;
    truncate_after(&t.office, cut).unwrap();

    // juki-r3: the log deleted and a new one started (`audit init`).
    replace_log(&mut site.terminals[2].office).unwrap();

    // The strongest attacker's logs verify on the terminal with its k(0), and the daemon
    // runs on them again.
    for t in &mut site.terminals {
        t.office.verify_audit();
        t.start_daemon().unwrap();
        some_logins(t, "b", 1);
    }
    site.wait_all_shipped();

    // What the collector holds tells: the rewritten record arrived next to the original...
    let r1 = collected_by_seq(&site, "juki-r1");
    assert_eq!(r1[&rewritten].len(), 2, "{:?}", r1[&rewritten]);
    assert!(r1[&rewritten].contains(&shipped[0][rewritten as usize]));
    // ... the continued chain's first record next to the one it replaced...
    let r2 = collected_by_seq(&site, "juki-r2");
    let next = cut + 1;
    assert_eq!(r2[&next].len(), 2, "{:?}", r2[&next]);
    assert!(r2[&next].contains(&shipped[1][next as usize]));
    // ... and two genesis records, of two logs.
    let r3 = collected_by_seq(&site, "juki-r3");
    let ids: Vec<_> = r3[&0]
        .iter()
        .map(|l| match Record::parse(l.as_bytes()).unwrap().event {
            Event::Genesis { log_id, .. } => log_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_ne!(ids[0], ids[1]);

    // The central verification on the collector: a critical finding for each, where it is.
    // (juki-r3's key file now holds the new log's k(0): the old chain's seals fail with it.)
    let (code, json) = site.collected().unwrap();
    assert_eq!(code, Some(6), "{json:#}");
    let entry = |host: &str| {
        json["terminals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["host"] == host)
            .unwrap_or_else(|| panic!("{host} not in {json:#}"))
            .clone()
    };
    let has = |e: &serde_json::Value, kind: &str, seq: Option<u64>| {
        e["findings"].as_array().unwrap().iter().any(|f| {
            f["kind"] == kind && f["severity"] == "critical" && seq.is_none_or(|s| f["seq"] == s)
        })
    };
    let r1 = entry("juki-r1");
    assert!(has(&r1, "conflict", Some(rewritten)), "{r1:#}");
    assert_eq!(r1["first_conflict"], rewritten, "{r1:#}");
    let r2 = entry("juki-r2");
    assert!(has(&r2, "conflict", Some(next)), "{r2:#}");
    assert_eq!(r2["first_conflict"], next, "{r2:#}");
    let r3 = entry("juki-r3");
    assert!(has(&r3, "replaced", None), "{r3:#}");
    assert_eq!(r3["replaced"], true, "{r3:#}");
    // The review on the collector says the same: the verification failed (exit 6).
    let (code, review) = site.review().unwrap();
    assert_eq!(code, Some(6), "{}", review["logs"]);
}
