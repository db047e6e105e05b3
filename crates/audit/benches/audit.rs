//! Benchmarks: durable appends per second with 1, 8 and 64 concurrent writers (group commit,
//! fdatasync on the real disk), and verify throughput beside ring's raw SHA-256.
//!
//! `cargo bench -p cardgate-audit --bench audit`
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cardgate_audit::record::LockReason;
use cardgate_audit::seal::read_key_file;
use cardgate_audit::segments::segment_name;
use cardgate_audit::verify::verify_segments;
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label, SystemClock};
use cardgate_card::CardSerial;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

fn entry(i: u64) -> Entry {
    let event = if i & 1 == 0 {
        Event::PinVerified {
            correct: true,
            tries_left: Some(3),
        }
    } else {
        Event::SessionLocked {
            reason: LockReason::CardRemoved,
            session_type: None,
            locked_hint: None,
        }
    };
    Entry::new(event)
        .reader(label("ACS ACR39U 00 00"))
        .card(CardSerial((0x1000 + i % 7).to_be_bytes()))
        .operator(label(&format!("op{:03}", i % 7)))
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("cardgate-audit-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_appends");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(1));
    for writers in [1u64, 8, 64] {
        let dir = temp_dir(&format!("append{writers}"));
        AuditLog::init(&dir, label("bench"), &SystemClock).unwrap();
        let (log, _) = AuditLog::open(AuditConfig::new(&dir, label("bench"))).unwrap();
        group.bench_with_input(
            BenchmarkId::from_parameter(writers),
            &writers,
            |b, &writers| {
                b.iter_custom(|iters| {
                    let per_writer = iters.div_ceil(writers);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for w in 0..writers {
                            let h = log.handle();
                            s.spawn(move || {
                                for i in 0..per_writer {
                                    h.append(entry(w * 1_000_000 + i)).unwrap();
                                }
                            });
                        }
                    });
                    // Time per append, counting every append made.
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_writer * writers) as f64)
                })
            },
        );
        log.close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    // An 8 MiB log, sealed every 1000 records as by default.
    let dir = temp_dir("verify");
    let k0 = AuditLog::init(&dir, label("bench"), &SystemClock).unwrap();
    let (log, _) = AuditLog::open(AuditConfig::new(&dir, label("bench"))).unwrap();
    let handle = log.handle();
    std::thread::scope(|s| {
        for w in 0..64u64 {
            let h = handle.clone();
            s.spawn(move || {
                for i in 0..500 {
                    h.append(entry(w * 1000 + i)).unwrap();
                }
            });
        }
    });
    log.close().unwrap();
    let bytes = std::fs::read(dir.join(segment_name(1))).unwrap();
    let name = segment_name(1);
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("chain_and_seals_with_key", |b| {
        b.iter(|| {
            let outcome = verify_segments(&[(&name, &bytes)], Some(&k0), read_key_file(&dir));
            assert!(outcome.is_intact());
        })
    });
    group.bench_function("ring_sha256_same_bytes", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, std::hint::black_box(&bytes)))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, appends, verify);
criterion_main!(benches);
