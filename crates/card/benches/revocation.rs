//! How long a large revocation list takes to load and verify (issue: 1,000,000 entries
//! "well under a second"), and how long one lookup takes.
#![allow(missing_docs)]

use cardgate_card::cert::CardSerial;
use cardgate_card::revocation::{Revocation, RevocationListBuilder, RevocationReason};
use cardgate_card::{IssuerKey, RevocationList};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn build(issuer: &IssuerKey, n: u64) -> Vec<u8> {
    let mut b = RevocationListBuilder::new(1, 1_800_000_000, 1_800_086_400);
    for i in 0..n {
        // Spread serials like random ones.
        let serial = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes();
        b.revoke(
            CardSerial(serial),
            Revocation {
                revoked_at: 1_800_000_000,
                reason: RevocationReason::Lost,
            },
        );
    }
    match b.sign(issuer) {
        Ok(bytes) => bytes,
        Err(e) => panic!("signing failed: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let issuer = IssuerKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let public = issuer.public_key();
    let mut group = c.benchmark_group("revocation");
    group.sample_size(10);
    for n in [1_000u64, 1_000_000] {
        let bytes = build(&issuer, n);
        group.bench_function(format!("load_and_verify/{n}"), |b| {
            b.iter(|| RevocationList::verify(black_box(&bytes), &public))
        });
    }
    let list = RevocationList::verify(&build(&issuer, 1_000_000), &public)
        .unwrap_or_else(|e| panic!("{e}"));
    let probe = CardSerial(500_000u64.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    group.sample_size(100);
    group.bench_function("lookup/1000000", |b| {
        b.iter(|| list.lookup(black_box(&probe)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
