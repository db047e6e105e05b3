//! Per-APDU round trip through a private pcscd and vpcd, side by side in one run:
//! `cardgate-sim serve`, vsmartcard's Python `vicc`, and the floor card (a trivial responder
//! that answers `9000`, with `TCP_QUICKACK` after each read: the path's own cost).
//!
//! Run as root: `cargo build --release -p cardgate-sim && cargo bench -p cardgate-tests
//! --bench pcsc_roundtrip` (`cargo xtask bench` does both). Optional: `ROUNDS=N` (default 20)
//! rounds of `BATCH=N` (default 100) APDUs per card, interleaved so drift hits all alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardgate_reader::pcsc::{ConnectOptions, PcscContext};
use cardgate_reader::CardTransport;
use cardgate_tests::PcscLab;
use std::time::{Duration, Instant};

/// VERIFY status for the PIN: answered from RAM by every card (a status word, no crypto).
const APDU: [u8; 4] = [0x00, 0x20, 0x00, 0x81];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Stats {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index]
    }
    fn mean(&self) -> Duration {
        self.samples.iter().sum::<Duration>() / self.samples.len() as u32
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not support.
    let rounds = env_number("ROUNDS", 20);
    let batch = env_number("BATCH", 100);
    let lab = PcscLab::with_readers(4).unwrap();
    let issuer = cardgate_tests::issuer_key().unwrap();
    let file = cardgate_tests::SoftCardFile::personalised(
        &lab,
        &issuer,
        "op-bench",
        cardgate_tests::fixtures::PIN,
        cardgate_tests::fixtures::PUK,
    )
    .unwrap();
    let _sim = lab.serve_card(0, &file, None).unwrap();
    let _vicc = lab.start_vicc(1).unwrap();
    let _floor = lab
        .start_card_program(2, env!("CARGO_BIN_EXE_cardgate-floor-card"), "floor card")
        .unwrap();
    let names = ["cardgate-sim", "vicc (vsmartcard)", "floor card"];
    let context = PcscContext::establish().unwrap();
    let mut cards = Vec::new();
    for slot in 0..3 {
        lab.wait_for_card(slot).unwrap();
        let mut card = context
            .connect(lab.reader(slot).unwrap(), ConnectOptions::default())
            .unwrap();
        for _ in 0..20 {
            card.transmit(&APDU).unwrap();
        }
        cards.push(card);
    }
    let mut stats: Vec<Stats> = names
        .iter()
        .map(|&name| Stats {
            name,
            samples: Vec::new(),
        })
        .collect();
    for _ in 0..rounds {
        for (card, stat) in cards.iter_mut().zip(stats.iter_mut()) {
            for _ in 0..batch {
                let start = Instant::now();
                let response = card.transmit(&APDU).unwrap();
                stat.samples.push(start.elapsed());
                assert!(response.len() >= 2);
            }
        }
    }
    let floor = stats[2].percentile(0.5);
    println!("per-APDU round trip through pcscd + vpcd, {} APDUs per card ({rounds} interleaved rounds of {batch}), µs", rounds * batch);
    println!();
    println!("| card | median | mean | p95 | p99 | median / floor |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for s in &stats {
        println!(
            "| {} | {} | {} | {} | {} | {:.2}× |",
            s.name,
            micros(s.percentile(0.5)),
            micros(s.mean()),
            micros(s.percentile(0.95)),
            micros(s.percentile(0.99)),
            s.percentile(0.5).as_secs_f64() / floor.as_secs_f64()
        );
    }
}
