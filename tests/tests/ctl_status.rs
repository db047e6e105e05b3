//! `cardgatectl status` and `cardgatectl sessions` through the real stack: a private pcscd
//! with vpcd readers, the software card in one, the real `cardgated`, a session open on it,
//! and the real `cardgatectl` asking the daemon and pcscd (issue 14, points 4 and 5).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{OPERATOR, TERMINAL, USER};
use cardgate_tests::{Office, PcscLab};
use std::process::Output;

const SESSION: &str = "c7";

fn office() -> Office {
    Office::standard(PcscLab::start().unwrap(), "").unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_and_sessions_report_the_open_session_readers_list_and_log() {
    let (office, _card, daemon) = office().with_open_session(SESSION).unwrap();

    let v: serde_json::Value =
        serde_json::from_str(&ok(office.ctl(&["--json", "status"], "").unwrap())).unwrap();
    assert_eq!(v["daemon"]["reachable"], true, "{v}");
    assert_eq!(v["daemon"]["sessions_open"], 1, "{v}");
    assert_eq!(v["pcscd"]["reachable"], true, "{v}");
    let readers = v["pcscd"]["readers"].as_array().unwrap();
    assert!(!readers.is_empty(), "{v}");
    let terminal = v["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == TERMINAL)
        .unwrap_or_else(|| panic!("no {TERMINAL} in {v}"));
    assert_eq!(terminal["reader_present"], true, "{v}");
    assert!(readers.contains(&terminal["reader"]), "{v}");
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{v}");
    assert_eq!(sessions[0]["session_id"], SESSION);
    assert_eq!(sessions[0]["user"], USER);
    assert_eq!(sessions[0]["operator_id"], OPERATOR);
    assert_eq!(sessions[0]["state"], "active");
    // The list the daemon holds is the file's, and it is fresh.
    let in_force = office.list_version();
    assert!(in_force.is_some());
    assert_eq!(v["revocation"]["in_force"].as_u64(), in_force, "{v}");
    assert_eq!(v["revocation"]["version"].as_u64(), in_force, "{v}");
    assert_eq!(v["revocation"]["freshness"], "fresh", "{v}");
    // The log the daemon writes: its last record is at least the session's opening.
    assert_eq!(v["audit"]["readable"], true, "{v}");
    let seq = v["audit"]["last_record"]["seq"].as_u64().unwrap();
    let opened = office
        .audit_lines()
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["event"]["kind"] == "login_granted")
        .unwrap_or_else(|| panic!("no login_granted record"));
    assert!(seq >= opened["seq"].as_u64().unwrap(), "{seq}: {v}");
    assert!(v["audit"]["last_seal"]["epoch"].is_u64(), "{v}");

    // Text: a localised table with the session, times as the office reads them.
    let text = ok(office.ctl(&["--lang", "en", "sessions"], "").unwrap());
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    for column in [
        "session", "terminal", "user", "operator", "card", "opened", "state",
    ] {
        assert!(header.contains(column), "{text}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(SESSION), "{text}");
    assert!(row.contains(USER) && row.contains(OPERATOR), "{text}");
    assert!(row.contains("+09:00") && row.ends_with("active"), "{text}");
    let ja = ok(office.ctl(&["--lang", "ja", "sessions"], "").unwrap());
    assert!(ja.lines().next().unwrap().contains("セッション"), "{ja}");
    assert!(ja.contains("使用中"), "{ja}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(office.ctl(&["--json", "sessions"], "").unwrap())).unwrap();
    assert_eq!(json[0]["session_id"], SESSION, "{json}");
    assert!(json[0]["opened_at"].as_str().unwrap().ends_with('Z'));
    assert!(json[0]["opened_at_unix"].is_i64());

    let status = ok(office.ctl(&["--lang", "en", "status"], "").unwrap());
    assert!(status.contains("cardgated: running"), "{status}");
    assert!(status.contains("pcscd: reachable"), "{status}");
    assert!(status.contains("open sessions: 1"), "{status}");
    assert!(status.contains("connected"), "{status}");
    let ja = ok(office.ctl(&["--lang", "ja", "status"], "").unwrap());
    assert!(ja.contains("動作中") && ja.contains("接続済み"), "{ja}");

    // The daemon stopped: status still reports pcscd, the list and the log, and exits 5.
    drop(daemon);
    let down = office.ctl(&["--json", "status"], "").unwrap();
    assert_eq!(down.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&down.stdout).unwrap();
    assert_eq!(v["daemon"]["reachable"], false, "{v}");
    assert_eq!(v["pcscd"]["reachable"], true, "{v}");
    assert!(v["revocation"]["version"].is_u64(), "{v}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("systemctl status cardgated"));
    let sessions = office.ctl(&["sessions"], "").unwrap();
    assert_eq!(sessions.status.code(), Some(5));
}
