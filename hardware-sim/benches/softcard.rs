//! `SoftCard::handle` in process: SELECT (personalised card, FCI with the certificate) and
//! VERIFY (right PIN), in memory and with the image file (two atomic writes per VERIFY: the
//! spent try, then its restoration).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::issue::IssueRequest;
use cardgate_card::{IssuerKey, Pin, Puk, AID};
use cardgate_sim::{create_card, SoftCard};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn image() -> cardgate_sim::CardImage {
    let request = IssueRequest {
        serial: CardSerial([1; 8]),
        operator_id: "op-0042".into(),
        role: Role::Operator,
        valid_from: time::macros::date!(2026 - 01 - 01),
        valid_until: time::macros::date!(2027 - 01 - 01),
    };
    let puk = Puk::parse("Kitsune12345").unwrap();
    let pin = Pin::parse("Tanuki42").unwrap();
    create_card(&IssuerKey::generate().unwrap(), &puk, &pin, &request).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x0A];
    select.extend_from_slice(&AID);
    select.push(0x00);
    let mut verify = vec![0x00, 0x20, 0x00, 0x81, 0x10];
    verify.extend_from_slice(&Pin::parse("Tanuki42").unwrap().to_wire()[..]);

    let mut group = c.benchmark_group("softcard");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    let mut card = SoftCard::in_memory(image());
    card.power_on();
    group.bench_function("select", |b| {
        b.iter(|| black_box(card.handle(black_box(&select))))
    });
    card.handle(&select);
    group.bench_function("verify_in_memory", |b| {
        b.iter(|| black_box(card.handle(black_box(&verify))))
    });

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    image().save(&path).unwrap();
    let mut card = SoftCard::open(&path).unwrap();
    card.power_on();
    card.handle(&select);
    group.bench_function("verify_image_file", |b| {
        b.iter(|| black_box(card.handle(black_box(&verify))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
