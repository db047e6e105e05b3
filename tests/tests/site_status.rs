//! `cardgatectl status` on a shipping terminal (issue 13, item 1): how far the real rsyslogd
//! of the shipped configuration has read each segment (imfile's state file), how many records
//! wait, and "not configured" where rsyslog keeps no position for the log.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::site::{Site, SiteTerminal, SHIP_LIMIT};
use serde_json::Value;
use std::time::{Duration, Instant};

fn status(t: &SiteTerminal, args: &[&str], dir: Option<&std::path::Path>) -> (Value, String) {
    let mut full = vec!["status", "--json"];
    full.extend(args);
    let out = t.ctl_with_rsyslog_dir(&full, dir).unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = t.ctl_with_rsyslog_dir(&["status"], dir).unwrap();
    assert!(text.status.success(), "{text:?}");
    (json, String::from_utf8(text.stdout).unwrap())
}

fn last_seq(t: &SiteTerminal) -> u64 {
    let lines = t.local_lines();
    cardgate_audit::Record::parse(lines.last().unwrap().as_bytes())
        .unwrap()
        .seq
}

/// Waits until status says nothing waits (imfile writes its state after each line it read).
fn wait_all_read(t: &SiteTerminal) -> Value {
    let start = Instant::now();
    loop {
        let (json, _) = status(t, &[], None);
        if json["shipping"]["waiting"] == 0 {
            return json;
        }
        assert!(start.elapsed() < SHIP_LIMIT, "{json}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn status_shows_how_far_rsyslog_has_read_and_what_waits() {
    let mut site = Site::start(&["juki-s1"], "").unwrap();
    site.wait_all_shipped();
    let json = wait_all_read(&site.terminals[0]);
    let shipping = &json["shipping"];
    assert_eq!(shipping["configured"], true, "{json}");
    let segments = shipping["segments"].as_array().unwrap();
    let last = segments.last().unwrap();
    assert_eq!(last["segment"], "audit-00000001.jsonl", "{json}");
    assert_eq!(last["read_up_to"], last_seq(&site.terminals[0]), "{json}");
    assert_eq!(last["last_seq"], last["read_up_to"], "{json}");

    // rsyslog stopped: what the terminal writes now waits, and status counts it.
    let t = &mut site.terminals[0];
    t.stop_rsyslogd().unwrap();
    let read_before = last_seq(t);
    for n in 0..3 {
        t.login_and_out(&format!("w{n}")).unwrap();
    }
    let written = last_seq(t) - read_before;
    assert!(written >= 9, "{written}");
    let (json, text) = status(t, &[], None);
    let shipping = &json["shipping"];
    assert_eq!(shipping["waiting"], written, "{json}");
    let last = shipping["segments"].as_array().unwrap().last().unwrap();
    assert_eq!(last["read_up_to"], read_before, "{json}");
    assert!(
        text.contains(&format!(
            "shipping to the collector: {written} records not yet read by rsyslog"
        )) && text.contains(&format!(
            "segment audit-00000001.jsonl: read up to record #{read_before} of #{}",
            read_before + written
        )),
        "{text}"
    );
    let ja = t
        .ctl_with_rsyslog_dir(&["--lang", "ja", "status"], None)
        .unwrap();
    let ja = String::from_utf8(ja.stdout).unwrap();
    assert!(
        ja.contains(&format!("rsyslog が未読の記録 {written} 件")),
        "{ja}"
    );

    // Started again, it reads on from where it was, and ships what waited.
    t.start_rsyslogd().unwrap();
    wait_all_read(&site.terminals[0]);
    site.wait_all_shipped();

    // Where rsyslog keeps no position for this log: said plainly.
    let empty = site.terminals[0].office.dir.join("no-rsyslog");
    std::fs::create_dir_all(&empty).unwrap();
    let (json, text) = status(&site.terminals[0], &[], Some(&empty));
    assert_eq!(json["shipping"]["configured"], false, "{json}");
    assert!(
        text.contains("shipping to the collector: not configured"),
        "{text}"
    );
}
