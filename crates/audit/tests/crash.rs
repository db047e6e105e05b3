//! Crash test: a child process appends in a loop and is killed with SIGKILL mid-append, over
//! and over. After each kill: opening the log quarantines and records a torn tail, every
//! append the child saw acknowledged is there, and the log verifies.
//!
//! The child is this test binary run again with `child DIR` (harness = false). Its writes go
//! out in 16-byte pieces with a short pause between them, so kills often land inside a line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cardgate_audit::segments::list_segments;
use cardgate_audit::storage::{FaultPlan, FaultyStorage};
use cardgate_audit::{verify_dir, AuditLog, Digest, Event};
use common::*;

const ROUNDS: usize = 16;

fn child(dir: &str) {
    let plan = FaultPlan::new();
    plan.chunk.store(16, Ordering::SeqCst);
    plan.chunk_pause_us.store(150, Ordering::SeqCst);
    let mut c = config(std::path::Path::new(dir), 7);
    c.storage = Arc::new(FaultyStorage { plan });
    let (log, _) = AuditLog::open(c).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let r = log.append(sample_entry(i)).unwrap();
        writeln!(out, "{} {}", r.seq, r.hash).unwrap();
        out.flush().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2]);
        return;
    }
    // The libtest protocol that cargo-nextest speaks to every test binary: `--list` names
    // the one test (none when only ignored tests are listed); a run names it as a filter.
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("crash_kill9_mid_append: test");
        }
        return;
    }
    let filters: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|f| "crash_kill9_mid_append".contains(f.as_str()))
    {
        return;
    }
    let t = TempDir::new("crash");
    let dir = t.log();
    let k0 = AuditLog::init(&dir, label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let mut acked: Vec<(u64, Digest)> = Vec::new();
    let mut tears = 0;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("child")
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // The kill must land mid-append, not before the child opened the log: a loaded
        // machine can take longer than the random delay to start it. So the delay runs from
        // its first acknowledged record.
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for line in first.into_iter().chain(lines) {
                let Ok(line) = line else { break };
                let (seq, hash) = line.split_once(' ').unwrap();
                seen.push((seq.parse::<u64>().unwrap(), hash.to_owned()));
            }
            seen
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(80 + rng % 170));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let seen = reader.join().unwrap();
        assert!(
            !seen.is_empty(),
            "round {round}: the child acknowledged nothing"
        );
        for (seq, hash) in seen {
            assert!(
                acked.last().is_none_or(|(prev, _)| seq > *prev),
                "round {round}: acknowledged seq {seq} reused"
            );
            acked.push((seq, Digest(hex::decode(hash).unwrap().try_into().unwrap())));
        }

        let last = list_segments(&dir).unwrap().last().unwrap().1.clone();
        let torn = std::fs::read(&last).unwrap().last() != Some(&b'\n');
        let (log, report) = AuditLog::open(config(&dir, 7)).unwrap();
        log.close().unwrap();
        assert_eq!(
            torn,
            !report.quarantined.is_empty(),
            "round {round}: torn tail {torn}, report {report:?}"
        );
        if torn {
            tears += 1;
            let q = std::fs::read(dir.join(&report.quarantined[0])).unwrap();
            let recorded = all_records(&dir).into_iter().any(|r| {
                matches!(&r.event, Event::TornTailQuarantined { sha256, bytes, .. }
                    if *sha256 == Digest::sha256(&q) && *bytes == q.len() as u64)
            });
            assert!(recorded, "round {round}: the quarantine is recorded");
        }
        let outcome = verify_dir(&dir, Some(&k0), &mut |_, _| {}).unwrap();
        assert!(
            outcome.is_intact(),
            "round {round}: {}",
            outcome.problem.unwrap()
        );
        let records = all_records(&dir);
        for (seq, hash) in &acked {
            let r = records
                .get(*seq as usize)
                .unwrap_or_else(|| panic!("acknowledged record {seq} is missing"));
            assert_eq!(
                Digest::sha256(&r.to_line()),
                *hash,
                "acknowledged record {seq} changed"
            );
        }
    }
    assert!(
        tears > 0,
        "no kill landed inside a line in {ROUNDS} rounds; the test proved nothing"
    );
    println!("crash test: {ROUNDS} kills, {tears} torn tails quarantined, {} acknowledged appends all present", acked.len());
}
