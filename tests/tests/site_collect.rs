//! Shipping through real parts (issue 13, items 1 and 6): three terminals, each a real
//! `cardgated` with its own pcscd, vpcd reader and software card in its own network
//! namespace, ship their audit records with the shipped rsyslog configuration (imfile +
//! omrelp) to a real rsyslogd with imrelp in the collector's namespace
//! (`cardgate_tests::site`).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::site::Site;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const HOSTS: [&str; 3] = ["juki-a1", "juki-a2", "juki-a3"];

/// Every terminal's local log, record by record, is what the collector holds for it: the
/// same lines, byte for byte, each at least once (with `in_order`, first arrivals in the
/// terminal's order); returns how many arrived twice.
fn collected_equals_local(site: &Site, in_order: bool) -> usize {
    let mut doubled = 0;
    for t in &site.terminals {
        let local = t.local_lines();
        let collected = site.collector.lines(&t.host);
        let unique: HashSet<&String> = collected.iter().collect();
        let local_set: HashSet<&String> = local.iter().collect();
        assert_eq!(
            local_set.len(),
            local.len(),
            "{}: a local line twice",
            t.host
        );
        assert_eq!(
            unique, local_set,
            "{}: the collector holds other lines than the terminal",
            t.host
        );
        // First arrivals in order of arrival are the local order: the terminal's segments
        // are read in order, and a re-sent line only repeats one that came before.
        let mut seen = HashSet::new();
        let first: Vec<&String> = collected.iter().filter(|l| seen.insert(*l)).collect();
        let local_refs: Vec<&String> = local.iter().collect();
        assert!(
            !in_order || first == local_refs,
            "{}: arrival order",
            t.host
        );
        doubled += collected.len() - unique.len();
    }
    doubled
}

/// The central verification and the review on the collector agree with the terminals: every
/// terminal verified with its k(0) to its last seal, nothing missing, what arrived twice
/// counted as duplicates, and the review counts each record and login once.
fn central_agrees(site: &Site) {
    // What is still on its way (a re-sent stretch) first lands: the collector's files hold
    // still for half a second.
    let count = || -> usize {
        site.terminals
            .iter()
            .map(|t| site.collector.lines(&t.host).len())
            .sum()
    };
    let start = Instant::now();
    loop {
        let before = count();
        std::thread::sleep(Duration::from_millis(500));
        if count() == before {
            break;
        }
        assert!(start.elapsed() < cardgate_tests::site::SHIP_LIMIT);
    }
    let (code, json) = site.collected().unwrap();
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["format"], 1, "{json:#}");
    assert_eq!(json["findings"], 0, "{json:#}");
    let mut all_records = 0;
    for t in &site.terminals {
        let local = t.local_lines();
        let records: Vec<cardgate_audit::Record> = local
            .iter()
            .map(|l| cardgate_audit::Record::parse(l.as_bytes()).unwrap())
            .collect();
        all_records += local.len();
        let entry = json["terminals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["host"] == t.host.as_str())
            .unwrap_or_else(|| panic!("{} not in {json:#}", t.host));
        let last = records.last().unwrap().seq;
        let last_seal = records
            .iter()
            .rev()
            .find(|r| matches!(r.event, cardgate_audit::Event::LogSealed(_)))
            .unwrap()
            .seq;
        let collected = site.collector.lines(&t.host).len();
        assert_eq!(entry["key_checked"], true, "{entry:#}");
        assert_eq!(entry["records"], local.len(), "{entry:#}");
        assert_eq!(entry["lines"], collected, "{entry:#}");
        assert_eq!(entry["duplicates"], collected - local.len(), "{entry:#}");
        assert_eq!(entry["last_seq"], last, "{entry:#}");
        assert!(
            entry["verified_up_to"].as_u64().unwrap() >= last_seal,
            "{entry:#}"
        );
        assert_eq!(entry["gaps"], serde_json::json!([]), "{entry:#}");
        assert_eq!(entry["conflicts"], 0, "{entry:#}");
        assert_eq!(entry["replaced"], false, "{entry:#}");
        assert!(entry["problem"].is_null(), "{entry:#}");
        assert_eq!(entry["silent"], false, "{entry:#}");
        assert_eq!(entry["findings"], serde_json::json!([]), "{entry:#}");
    }
    let (code, review) = site.review().unwrap();
    assert_eq!(code, Some(0), "{review:#}");
    assert_eq!(review["verification"], "intact", "{}", review["logs"]);
    assert_eq!(review["records"], all_records, "duplicates counted once");
    for t in &site.terminals {
        let logins = t
            .local_lines()
            .iter()
            .filter(|l| {
                cardgate_audit::Record::parse(l.as_bytes())
                    .is_ok_and(|r| r.event.kind_name() == "login_granted")
            })
            .count();
        assert_eq!(
            review["per_terminal"][&t.host]["logins"], logins,
            "{}: {}",
            t.host, review["per_terminal"]
        );
    }
}

#[test]
fn three_terminals_ship_every_record_across_a_collector_restart() {
    let started = Instant::now();
    let mut site = Site::start(&HOSTS, "").unwrap();
    // What the daemons wrote as they started is shipped.
    site.wait_all_shipped();
    let before = collected_equals_local(&site, true);
    assert_eq!(before, 0, "nothing re-sent while the collector was up");
    // Records are one message each and land byte for byte: every collected line parses,
    // strictly, as a record, its numbers run from 0.
    for t in &site.terminals {
        let seqs: Vec<u64> = site
            .collector
            .lines(&t.host)
            .iter()
            .map(|line| {
                cardgate_audit::Record::parse(line.as_bytes())
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", t.host))
                    .seq
            })
            .collect();
        assert_eq!(
            seqs,
            (0..seqs.len() as u64).collect::<Vec<_>>(),
            "{}",
            t.host
        );
    }

    // A stream of logins on all three terminals; the collector is stopped (SIGTERM) and
    // started again in the middle of it.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let logins = std::thread::scope(|scope| {
        let workers: Vec<_> = site
            .terminals
            .iter()
            .map(|t| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 6 {
                        t.login_and_out(&format!("s{n}")).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        site.collector.stop().unwrap();
        // Logins go on while it is away; their records wait on the terminals.
        std::thread::sleep(Duration::from_millis(700));
        // Records were written while it was away, and it does not have them.
        let waiting: Vec<usize> = site
            .terminals
            .iter()
            .map(|t| {
                let have: HashSet<String> = site.collector.lines(&t.host).into_iter().collect();
                t.local_lines()
                    .iter()
                    .filter(|l| !have.contains(*l))
                    .count()
            })
            .collect();
        assert!(waiting.iter().all(|&n| n > 0), "{waiting:?}");
        site.collector.start_again().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let logins = workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<usize>>();
        (logins, waiting)
    });
    let (logins, waiting) = logins;
    assert!(logins.iter().all(|&n| n >= 6), "{logins:?}");
    let waited = site.wait_all_shipped();
    let doubled = collected_equals_local(&site, true);
    central_agrees(&site);
    for t in &site.terminals {
        let grants = t
            .local_lines()
            .iter()
            .filter(|l| {
                cardgate_audit::Record::parse(l.as_bytes())
                    .is_ok_and(|r| r.event.kind_name() == "login_granted")
            })
            .count();
        assert!(grants >= 6, "{}: {grants} logins recorded", t.host);
    }
    eprintln!(
        "logins {logins:?}; {waiting:?} records waited on the terminals; after the restart everything arrived within {waited:?}; \
         {doubled} lines re-sent; {:?} in all",
        started.elapsed()
    );
}

#[test]
fn a_message_that_forges_another_terminals_name_is_not_filed_under_it() {
    let site = Site::start(&HOSTS[..2], "").unwrap();
    site.wait_all_shipped();
    let (victim, liar) = (&site.terminals[0], &site.terminals[1]);
    let before = site.collector.lines(&victim.host);
    // A planted record: what would frame the victim's log as tampered with.
    let planted = r#"{"seq":0,"planted":"by the liar"}"#;
    let _forger = liar.forge_as(&victim.host, &[planted]).unwrap();
    let start = Instant::now();
    while !site.collector.forged().contains(planted) {
        assert!(
            start.elapsed() < cardgate_tests::site::SHIP_LIMIT,
            "the forged message never reached forged.log: {}",
            site.collector.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let forged = site.collector.forged();
    assert!(
        forged.contains(&format!("from {} ({})", liar.address, liar.host))
            && forged.contains(&format!("claiming {}", victim.host)),
        "{forged}"
    );
    // The victim's files hold only what the victim sent, the liar's only its own.
    let after = site.collector.lines(&victim.host);
    assert_eq!(after[..before.len()], before[..]);
    assert!(!after.iter().any(|l| l == planted), "{after:?}");
    assert!(!site
        .collector
        .lines(&liar.host)
        .iter()
        .any(|l| l == planted));
    victim.wait_shipped(&site.collector);
    collected_equals_local(&site, true);
}

/// rsyslog's known limit (rsyslog issue #3820): what omrelp had written into the connection
/// when the collector went away is held, unacknowledged, in librelp's memory, and is gone if
/// the terminal's rsyslogd is restarted before the collector is back. Everything else waits
/// in the disk queue and arrives; the collector shows the rest as a gap, the records are
/// still on the terminal, and sending the log again (imfile's state removed) brings them.
#[test]
fn a_restart_of_the_terminals_rsyslogd_while_the_collector_is_away_loses_nothing_for_good() {
    let mut site = Site::start(&HOSTS[..1], "").unwrap();
    site.wait_all_shipped();
    site.collector.stop().unwrap();
    some_logins(&site, "x", 3);
    let t = &mut site.terminals[0];
    // Until imfile has read them, they are only in the log.
    let start = Instant::now();
    while t
        .ctl_with_rsyslog_dir(&["status", "--json"], None)
        .map_or(true, |o| {
            serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .map_or(true, |v| v["shipping"]["waiting"] != 0)
        })
    {
        assert!(start.elapsed() < cardgate_tests::site::SHIP_LIMIT);
        std::thread::sleep(Duration::from_millis(50));
    }
    t.stop_rsyslogd().unwrap();
    let saved: Vec<String> = std::fs::read_dir(&t.rsyslog_work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cardgate_ship."))
        .collect();
    assert!(!saved.is_empty(), "no queue on disk");
    t.start_rsyslogd().unwrap();
    let before_y = t.local_lines().len();
    some_logins(&site, "y", 2);
    site.collector.start_again().unwrap();
    // What was written after the restart arrives.
    let t = &site.terminals[0];
    let local = t.local_lines();
    let start = Instant::now();
    loop {
        let have: HashSet<String> = site.collector.lines(&t.host).into_iter().collect();
        if local[before_y..].iter().all(|l| have.contains(l)) {
            break;
        }
        assert!(
            start.elapsed() < cardgate_tests::site::SHIP_LIMIT,
            "{}",
            t.rsyslogd_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let have: HashSet<String> = site.collector.lines(&t.host).into_iter().collect();
    let missing = local.iter().filter(|l| !have.contains(*l)).count();
    if missing > 0 {
        // The collector says so: a gap, high, on this terminal.
        let (code, json) = site.collected().unwrap();
        assert_eq!(code, Some(6), "{json:#}");
        let entry = &json["terminals"][0];
        assert!(
            entry["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["kind"] == "gap" && f["severity"] == "high"),
            "{entry:#}"
        );
    }
    // The loss is bounded by what was in flight: never more than the records of the first
    // login written while the collector was away.
    assert!(missing <= 5, "{missing} records missing");
    // Sent again: nothing is missing, what arrived twice is counted as such.
    site.terminals[0].reship_all().unwrap();
    site.wait_all_shipped();
    let doubled = collected_equals_local(&site, false);
    assert!(doubled > 0);
    central_agrees(&site);
    eprintln!(
        "{missing} records were in librelp's window; {doubled} arrived twice after the re-send"
    );
}

fn some_logins(site: &Site, tag: &str, n: usize) {
    for t in &site.terminals {
        for i in 0..n {
            t.login_and_out(&format!("{tag}{i}")).unwrap();
        }
    }
}

#[test]
fn a_terminal_that_stops_reporting_is_silent_at_the_collector_and_a_stopped_one_is_not() {
    let mut site = Site::start(&HOSTS[..2], "").unwrap();
    // juki-a2's daemon stops (its last record says so); juki-a1 keeps working, but what it
    // writes no longer leaves it (its rsyslog stopped).
    site.terminals[1].stop_daemon();
    site.wait_all_shipped();
    site.terminals[0].stop_rsyslogd().unwrap();
    site.terminals[0].login_and_out("z").unwrap();
    let silent = |json: &serde_json::Value, host: &str| {
        let e = json["terminals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["host"] == host)
            .unwrap()
            .clone();
        (e["silent"].as_bool().unwrap(), e)
    };
    // Now: neither is silent.
    let (code, json) = site.collected().unwrap();
    assert_eq!(code, Some(0), "{json:#}");
    assert!(
        !silent(&json, "juki-a1").0 && !silent(&json, "juki-a2").0,
        "{json:#}"
    );
    // 61 minutes on (the default --silent-after is 60): juki-a1 is silent, juki-a2 stopped.
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(61);
    let later = cardgate_audit::Timestamp::from_datetime(later).to_string();
    let (code, json) = site.collected_with(&["--now", &later]).unwrap();
    assert_eq!(code, Some(6), "{json:#}");
    let (a1, e1) = silent(&json, "juki-a1");
    assert!(a1, "{e1:#}");
    assert!(
        e1["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "silent"),
        "{e1:#}"
    );
    let (a2, e2) = silent(&json, "juki-a2");
    assert!(!a2, "{e2:#}");
    assert_eq!(e2["last_kind"], "log_sealed", "{e2:#}");
}
