//! Tamper tests: `verify` catches each change and names the record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardgate_audit::seal::{read_key_file, write_key_file};
use cardgate_audit::segments::segment_name;
use cardgate_audit::verify::{feed_segment, Location, Verifier};
use cardgate_audit::{verify_dir, AuditLog, Event, ProblemKind, Record, SealKey, StoreError};
use common::*;

fn verify(dir: &std::path::Path, key: &SealKey) -> cardgate_audit::VerifyOutcome {
    verify_dir(dir, Some(key), &mut |_, _| {}).unwrap()
}

#[test]
fn an_untouched_log_verifies_with_and_without_the_key() {
    let t = TempDir::new("intact");
    let k0 = build_log(&t.log(), 100, 10);
    let with = verify(&t.log(), &k0);
    assert!(with.is_intact(), "{:?}", with.problem);
    assert!(with.key_checked);
    assert_eq!(with.records, 2 + 100 + 10);
    assert_eq!(with.seals, 1 + 10);
    assert!(with.unsealed_tail.is_none());
    let without = verify_dir(&t.log(), None, &mut |_, _| {}).unwrap();
    assert!(without.is_intact());
    assert!(!without.key_checked);
    // A wrong key fails at the very first seal.
    let wrong = verify(&t.log(), &SealKey::generate().unwrap());
    let p = wrong.problem.unwrap();
    assert_eq!(p.seq, 1);
    assert!(matches!(p.kind, ProblemKind::SealMac));
}

#[test]
fn one_byte_changed_is_caught_at_that_record() {
    let t = TempDir::new("byte");
    let k0 = build_log(&t.log(), 60, 10);
    let mut lines = lines(&t.log());
    // op003 → op004 in record 20 (or the first card-use record after it): still valid JSON and
    // a valid record.
    let index = (20..lines.len())
        .find(|&i| lines[i].windows(4).any(|w| w == b"op00"))
        .unwrap();
    let line = &mut lines[index];
    let pos = line.windows(4).position(|w| w == b"op00").unwrap() + 4;
    line[pos] = if line[pos] == b'9' {
        b'8'
    } else {
        line[pos] + 1
    };
    assert!(
        Record::parse(line).is_ok(),
        "the edit keeps the record readable"
    );
    write_lines(&t.log(), &lines);
    let p = verify(&t.log(), &k0).problem.unwrap();
    let next = index as u64 + 1;
    assert_eq!(p.seq, next, "{p}");
    assert!(matches!(p.kind, ProblemKind::BrokenLink));
    assert!(p.to_string().contains(&format!("record {next} ")), "{p}");
}

#[test]
fn a_deleted_record_is_caught() {
    let t = TempDir::new("delete");
    let k0 = build_log(&t.log(), 60, 10);
    let mut lines = lines(&t.log());
    lines.remove(30);
    write_lines(&t.log(), &lines);
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert_eq!(p.seq, 31);
    assert!(
        matches!(
            p.kind,
            ProblemKind::SeqGap {
                expected: 30,
                found: 31
            }
        ),
        "{p}"
    );
}

#[test]
fn an_inserted_record_is_caught_even_when_the_chain_is_rewritten() {
    let t = TempDir::new("insert");
    let k0 = build_log(&t.log(), 60, 10);
    // Naive: a copy of record 30 inserted after it.
    let original = lines(&t.log());
    let mut naive = original.clone();
    naive.insert(31, original[30].clone());
    write_lines(&t.log(), &naive);
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert_eq!(p.seq, 30);
    assert!(
        matches!(
            p.kind,
            ProblemKind::SeqGap {
                expected: 31,
                found: 30
            }
        ),
        "{p}"
    );

    // Careful: insert, renumber and re-link everything after it, seals' ranges and heads too.
    let mut records: Vec<Record> = original.iter().map(|l| Record::parse(l).unwrap()).collect();
    let mut fake = records[30].clone();
    fake.event = Event::SessionEnded {
        reason: cardgate_audit::record::EndReason::Logout,
        session_type: None,
        logind_state: None,
    };
    records.insert(31, fake);
    let rewritten = rechain(&mut records, None);
    write_lines(&t.log(), &rewritten);
    let p = verify(&t.log(), &k0).problem.unwrap();
    // The next seal's MAC no longer matches.
    let next_seal = records
        .iter()
        .skip(31)
        .find(|r| matches!(r.event, Event::LogSealed(_)))
        .unwrap();
    assert_eq!(p.seq, next_seal.seq, "{p}");
    assert!(matches!(p.kind, ProblemKind::SealMac), "{p}");
    // Without the key only the chain is checked, and a rewritten chain passes: that is why
    // the key matters.
    assert!(verify_dir(&t.log(), None, &mut |_, _| {})
        .unwrap()
        .is_intact());
}

#[test]
fn two_swapped_records_are_caught() {
    let t = TempDir::new("swap");
    let k0 = build_log(&t.log(), 60, 10);
    let mut lines = lines(&t.log());
    lines.swap(40, 41);
    write_lines(&t.log(), &lines);
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert_eq!(p.seq, 41);
    assert!(
        matches!(
            p.kind,
            ProblemKind::SeqGap {
                expected: 40,
                found: 41
            }
        ),
        "{p}"
    );
}

#[test]
fn a_truncated_tail_is_caught() {
    let t = TempDir::new("truncate");
    let k0 = build_log(&t.log(), 60, 10);
    let lines = lines(&t.log());
    let n = lines.len();
    // Cut the last 15 records, seals included, at a line boundary.
    write_lines(&t.log(), &lines[..n - 15]);
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert_eq!(p.seq, (n - 15) as u64);
    assert!(p.location.is_none());
    assert!(matches!(p.kind, ProblemKind::KeyFileEpoch { .. }), "{p}");
    // Cut in the middle of a line.
    let mut bytes = std::fs::read(t.log().join(segment_name(1))).unwrap();
    bytes.truncate(bytes.len() - 40);
    std::fs::write(t.log().join(segment_name(1)), &bytes).unwrap();
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert!(matches!(p.kind, ProblemKind::TornLine { .. }), "{p}");
    assert_eq!(p.seq, (n - 16) as u64);
}

#[test]
fn a_dropped_last_seal_is_caught() {
    let t = TempDir::new("lastseal");
    let k0 = build_log(&t.log(), 55, 10);
    let mut lines = lines(&t.log());
    let last = Record::parse(lines.last().unwrap()).unwrap();
    assert!(matches!(last.event, Event::LogSealed(_)));
    lines.pop();
    write_lines(&t.log(), &lines);
    let outcome = verify(&t.log(), &k0);
    let p = outcome.problem.unwrap();
    assert_eq!(p.seq, last.seq);
    assert!(matches!(p.kind, ProblemKind::KeyFileEpoch { .. }), "{p}");
    // And the writer refuses to continue such a log.
    let err = AuditLog::open(config(&t.log(), 10)).unwrap_err();
    assert!(
        matches!(err, StoreError::KeyDoesNotMatchLog { .. }),
        "{err}"
    );
}

#[test]
fn an_old_log_put_back_is_caught() {
    let t = TempDir::new("replay");
    let k0 = build_log(&t.log(), 30, 10);
    let old = std::fs::read(t.log().join(segment_name(1))).unwrap();
    let (log, _) = AuditLog::open(config(&t.log(), 10)).unwrap();
    for i in 0..25 {
        log.append(sample_entry(i)).unwrap();
    }
    log.close().unwrap();
    assert!(verify(&t.log(), &k0).is_intact());
    std::fs::write(t.log().join(segment_name(1)), &old).unwrap();
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert!(matches!(p.kind, ProblemKind::KeyFileEpoch { .. }), "{p}");
}

/// CVE-2023-31439: an attacker who has the current key changes old records and re-seals them.
#[test]
fn old_records_resealed_with_a_newer_key_are_caught() {
    let t = TempDir::new("cve31439");
    let k0 = build_log(&t.log(), 60, 10);
    let stolen = read_key_file(&t.log()).unwrap().unwrap();
    assert!(stolen.epoch > 3);
    let original: Vec<Record> = lines(&t.log())
        .iter()
        .map(|l| Record::parse(l).unwrap())
        .collect();

    // (a) change record 5, re-link, re-seal every seal with the stolen key, epochs unchanged.
    let mut records = original.clone();
    records[5].operator = Some(label("somebody-else"));
    write_lines(&t.log(), &rechain(&mut records, Some((&stolen.key, 5))));
    let p = verify(&t.log(), &k0).problem.unwrap();
    let first_seal_after = records
        .iter()
        .skip(5)
        .find(|r| matches!(r.event, Event::LogSealed(_)))
        .unwrap();
    assert_eq!(p.seq, first_seal_after.seq, "{p}");
    assert!(matches!(p.kind, ProblemKind::SealMac), "{p}");

    // (b) drop every seal after the change and seal it all once with the stolen key under its
    //     true (current) epoch.
    let mut records: Vec<Record> = original
        .iter()
        .enumerate()
        .filter(|(i, r)| *i < 5 || !matches!(r.event, Event::LogSealed(_)))
        .map(|(_, r)| r.clone())
        .collect();
    records[5].operator = Some(label("somebody-else"));
    let mut seal = original.last().unwrap().clone();
    if let Event::LogSealed(s) = &mut seal.event {
        s.epoch = stolen.epoch;
    }
    records.push(seal);
    write_lines(&t.log(), &rechain(&mut records, Some((&stolen.key, 5))));
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert_eq!(p.seq, (records.len() - 1) as u64);
    assert!(
        matches!(p.kind, ProblemKind::SealEpoch { expected: 1, .. }),
        "{p}"
    );
}

/// CVE-2023-31438: a sealed log truncated, then continued with fresh records.
#[test]
fn a_sealed_log_truncated_and_continued_is_caught() {
    let t = TempDir::new("cve31438");
    let k0 = build_log(&t.log(), 60, 10);
    let stolen = read_key_file(&t.log()).unwrap().unwrap();
    let original: Vec<Record> = lines(&t.log())
        .iter()
        .map(|l| Record::parse(l).unwrap())
        .collect();
    // Keep up to the third seal, then add fresh records.
    let cut = original
        .iter()
        .filter(|r| matches!(r.event, Event::LogSealed(_)))
        .nth(2)
        .unwrap()
        .seq as usize;
    let mut records: Vec<Record> = original[..=cut].to_vec();
    for i in 0..5 {
        let mut r = original[cut - 1].clone();
        r.event = sample_entry(i).event;
        records.push(r);
    }
    let continued = rechain(&mut records, None);

    // (a) fresh records left unsealed: the key file is epochs ahead.
    write_lines(&t.log(), &continued);
    let outcome = verify(&t.log(), &k0);
    let tail = outcome.unsealed_tail.clone().unwrap();
    assert_eq!(tail.count(), 5, "the unsealed tail is reported");
    let p = outcome.problem.unwrap();
    assert!(
        matches!(p.kind, ProblemKind::KeyFileEpoch { key_epoch, expected: 3 } if key_epoch == stolen.epoch),
        "{p}"
    );

    // (b) ... and the key file relabelled to the expected epoch: its key is still the stolen one.
    write_key_file(&t.log(), 3, &stolen.key).unwrap();
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert!(matches!(p.kind, ProblemKind::KeyFileKey), "{p}");

    // (c) the fresh records sealed with the stolen key under its own epoch.
    let mut sealed = records.clone();
    let mut seal = original[cut].clone();
    if let Event::LogSealed(s) = &mut seal.event {
        s.epoch = stolen.epoch;
    }
    sealed.push(seal.clone());
    let from = sealed.len() as u64 - 1;
    write_lines(&t.log(), &rechain(&mut sealed, Some((&stolen.key, from))));
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert_eq!(p.seq, (sealed.len() - 1) as u64);
    assert!(
        matches!(p.kind, ProblemKind::SealEpoch { expected: 3, .. }),
        "{p}"
    );

    // (d) ... labelled as the expected epoch 3: the MAC is wrong.
    let mut sealed = records.clone();
    if let Event::LogSealed(s) = &mut seal.event {
        s.epoch = 3;
    }
    sealed.push(seal);
    let from = sealed.len() as u64 - 1;
    write_lines(&t.log(), &rechain(&mut sealed, Some((&stolen.key, from))));
    let p = verify(&t.log(), &k0).problem.unwrap();
    assert_eq!(p.seq, (sealed.len() - 1) as u64);
    assert!(matches!(p.kind, ProblemKind::SealMac), "{p}");
}

/// Every single bit of a ≥ 64 KiB log flipped, one at a time (as systemd's
/// test-journal-verify does). Each flip is verified by the real streaming verifier, resumed
/// from a checkpoint taken just before the line holding the flipped bit, to the end of the log
/// and the key-file check.
#[test]
fn every_single_bit_flip_in_64_kib_is_caught() {
    let t = TempDir::new("bitflip");
    let k0 = build_log(&t.log(), 330, 25);
    let bytes = std::fs::read(t.log().join(segment_name(1))).unwrap();
    assert!(
        bytes.len() >= 64 * 1024,
        "log is only {} bytes",
        bytes.len()
    );
    let name = segment_name(1);
    // Checkpoints: the verifier state before each line, and where each line starts.
    let mut starts = Vec::new();
    let mut checkpoints = Vec::new();
    let mut verifier = Verifier::new(Some(k0.clone()));
    let mut pos = 0;
    let mut line_no = 1;
    while pos < bytes.len() {
        let end = pos + bytes[pos..].iter().position(|&b| b == b'\n').unwrap();
        starts.push(pos);
        checkpoints.push(verifier.clone());
        verifier
            .feed_line(
                &bytes[pos..end],
                &Location {
                    file: name.clone(),
                    line: line_no,
                },
            )
            .unwrap();
        pos = end + 1;
        line_no += 1;
    }
    let key_file = || read_key_file(&t.log());
    assert!(verifier.clone().finish(key_file()).is_intact());

    let kf = read_key_file(&t.log()).unwrap().unwrap();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let missed: Vec<(usize, u8)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|worker| {
                let (bytes, starts, checkpoints, name, kf) =
                    (&bytes, &starts, &checkpoints, &name, &kf);
                s.spawn(move || {
                    let mut missed = Vec::new();
                    let mut copy = bytes.clone();
                    for offset in (worker..bytes.len()).step_by(threads) {
                        let line = starts.partition_point(|&st| st <= offset) - 1;
                        for bit in 0..8u8 {
                            copy[offset] ^= 1 << bit;
                            let mut v = checkpoints[line].clone();
                            let caught = match feed_segment(
                                &mut v,
                                name,
                                &copy[starts[line]..],
                                line as u64 + 1,
                            ) {
                                Err(_) => true,
                                Ok(()) => {
                                    let kf = cardgate_audit::seal::KeyFile {
                                        epoch: kf.epoch,
                                        key: kf.key.clone(),
                                    };
                                    !v.finish(Ok(Some(kf))).is_intact()
                                }
                            };
                            if !caught {
                                missed.push((offset, bit));
                            }
                            copy[offset] ^= 1 << bit;
                        }
                    }
                    missed
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let shown: Vec<String> = missed
        .iter()
        .take(8)
        .map(|(o, b)| {
            format!(
                "{o}/{b} in {:?}",
                String::from_utf8_lossy(&bytes[o.saturating_sub(20)..(*o + 20).min(bytes.len())])
            )
        })
        .collect();
    assert!(
        missed.is_empty(),
        "{} flips not caught: {shown:#?}",
        missed.len()
    );
}
