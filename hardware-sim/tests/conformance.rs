//! The conformance transcripts (`tests/transcripts/*.txt`) against the in-process software
//! card, plus two checks on the transcripts themselves: they cover every command and status
//! word of the contract, and they catch a card that deviates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardgate_card::IssuerKey;
use cardgate_sim::transcript::{self, CardUnderTest, RunError, Script, TargetError};
use cardgate_sim::{SoftCard, ATR};

fn scripts() -> Vec<Script> {
    let scripts = transcript::load_dir(&transcript::default_dir()).expect("transcripts load");
    assert!(
        scripts.len() >= 10,
        "only {} transcripts found",
        scripts.len()
    );
    scripts
}

#[test]
fn every_transcript_passes_in_process() {
    let issuer = IssuerKey::generate().unwrap();
    let mut total = 0;
    for script in scripts() {
        let apdus = script
            .run_in_process(&issuer)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(apdus, script.apdu_count(), "{}", script.name());
        total += apdus;
    }
    assert!(total > 150, "only {total} APDUs in all transcripts");
}

#[test]
fn transcripts_cover_every_command_and_status_word() {
    let scripts = scripts();
    let statuses: std::collections::BTreeSet<[u8; 2]> = scripts
        .iter()
        .flat_map(Script::expected_status_words)
        .collect();
    let required: &[[u8; 2]] = &[
        [0x90, 0x00],
        [0x6D, 0x00],
        [0x6E, 0x00],
        [0x6A, 0x86],
        [0x67, 0x00],
        [0x69, 0x85],
        [0x6A, 0x82],
        [0x6A, 0x88],
        [0x69, 0x82],
        [0x69, 0x83],
        [0x6A, 0x80],
        // Every PIN count and both ends of the PUK count.
        [0x63, 0xC0],
        [0x63, 0xC1],
        [0x63, 0xC2],
        [0x63, 0xC3],
        [0x63, 0xC9],
        [0x63, 0xCA],
    ];
    for sw in required {
        assert!(
            statuses.contains(sw),
            "no transcript expects {:02X}{:02X}",
            sw[0],
            sw[1]
        );
    }
    let instructions: std::collections::BTreeSet<u8> =
        scripts.iter().flat_map(Script::instructions).collect();
    for ins in [0xA4, 0xCA, 0x20, 0x24, 0x2C, 0x88, 0x47, 0xDA] {
        assert!(
            instructions.contains(&ins),
            "no transcript sends INS {ins:02X}"
        );
    }
}

/// A software card with one deliberate deviation from the contract.
struct Deviant {
    card: SoftCard,
    mutate: fn(&[u8], Vec<u8>) -> Vec<u8>,
    honours_reset: bool,
    honours_power_cycle: bool,
    atr: Vec<u8>,
}

impl CardUnderTest for Deviant {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TargetError> {
        let response = self.card.handle(command);
        Ok((self.mutate)(command, response))
    }
    fn reset(&mut self) -> Result<(), TargetError> {
        if self.honours_reset {
            self.card.reset();
        }
        Ok(())
    }
    fn power_cycle(&mut self) -> Result<(), TargetError> {
        if self.honours_power_cycle {
            self.card.power_off();
            self.card.power_on();
        }
        Ok(())
    }
    fn atr(&mut self) -> Result<Vec<u8>, TargetError> {
        Ok(self.atr.clone())
    }
}

fn sw(response: &[u8]) -> [u8; 2] {
    let n = response.len();
    [response[n - 2], response[n - 1]]
}

fn replace_sw(from: [u8; 2], to: [u8; 2], mut response: Vec<u8>) -> Vec<u8> {
    if sw(&response) == from {
        let n = response.len();
        response[n - 2..].copy_from_slice(&to);
    }
    response
}

fn same(_: &[u8], r: Vec<u8>) -> Vec<u8> {
    r
}

#[test]
fn transcripts_catch_a_deviating_card() {
    type Mutation = (&'static str, fn(&[u8], Vec<u8>) -> Vec<u8>);
    let mutations: &[Mutation] = &[
        ("unknown INS answers 6A86", |_, r| {
            replace_sw([0x6D, 0], [0x6A, 0x86], r)
        }),
        ("unknown CLA answers 6D00", |_, r| {
            replace_sw([0x6E, 0], [0x6D, 0x00], r)
        }),
        ("wrong P1/P2 answers 6700", |_, r| {
            replace_sw([0x6A, 0x86], [0x67, 0x00], r)
        }),
        ("wrong length answers 6A80", |_, r| {
            replace_sw([0x67, 0], [0x6A, 0x80], r)
        }),
        ("no application selected answers 6982", |_, r| {
            replace_sw([0x69, 0x85], [0x69, 0x82], r)
        }),
        ("other AID answers 6A88", |_, r| {
            replace_sw([0x6A, 0x82], [0x6A, 0x88], r)
        }),
        ("missing data answers 6A82", |_, r| {
            replace_sw([0x6A, 0x88], [0x6A, 0x82], r)
        }),
        ("tries left off by one", |_, r| {
            replace_sw([0x63, 0xC2], [0x63, 0xC3], r)
        }),
        ("the PUK count off by one", |_, r| {
            replace_sw([0x63, 0xC9], [0x63, 0xC8], r)
        }),
        ("a blocked PIN is accepted", |_, r| {
            replace_sw([0x69, 0x83], [0x90, 0x00], r)
        }),
        ("a malformed new PIN is accepted", |_, r| {
            replace_sw([0x6A, 0x80], [0x90, 0x00], r)
        }),
        ("INTERNAL AUTHENTICATE without the PIN", |c, r| {
            if c.get(1) == Some(&0x88) && sw(&r) == [0x69, 0x82] {
                let mut fake = vec![0x11; 64];
                fake.extend_from_slice(&[0x90, 0x00]);
                fake
            } else {
                r
            }
        }),
        ("a 63-byte signature", |c, mut r| {
            if c.get(1) == Some(&0x88) && r.len() == 66 {
                r.remove(0);
            }
            r
        }),
        ("a compressed public point", |c, mut r| {
            if c.get(1) == Some(&0x47) && r.len() > 6 {
                r[5] = 0x02;
            }
            r
        }),
        ("the certificate cut short", |c, mut r| {
            if c.get(1) == Some(&0xCA) && r.len() > 10 {
                r.remove(r.len() - 3);
            }
            r
        }),
        ("SELECT without the AID in the FCI", |c, r| {
            if c.get(1) == Some(&0xA4) && sw(&r) == [0x90, 0x00] {
                vec![0x6F, 0x00, 0x90, 0x00]
            } else {
                r
            }
        }),
    ];
    let issuer = IssuerKey::generate().unwrap();
    let scripts = scripts();
    let caught = |mutate: fn(&[u8], Vec<u8>) -> Vec<u8>,
                  honours_reset: bool,
                  honours_power_cycle: bool,
                  atr: Vec<u8>| {
        scripts.iter().any(|script| {
            let image = script.fixture().build(&issuer).unwrap();
            let mut card = Deviant {
                card: SoftCard::in_memory(image.clone()),
                mutate,
                honours_reset,
                honours_power_cycle,
                atr: atr.clone(),
            };
            card.card.power_on();
            matches!(
                script.run(&image, &mut card),
                Err(RunError::Mismatch { .. })
            )
        })
    };
    assert!(
        !caught(same, true, true, ATR.to_vec()),
        "the faithful card must pass"
    );
    for (name, mutate) in mutations {
        assert!(
            caught(*mutate, true, true, ATR.to_vec()),
            "no transcript catches: {name}"
        );
    }
    assert!(
        caught(same, false, true, ATR.to_vec()),
        "no transcript catches: reset ignored"
    );
    assert!(
        caught(same, true, false, ATR.to_vec()),
        "no transcript catches: power cycle ignored"
    );
    let mut bad_atr = ATR.to_vec();
    bad_atr[5] = b'x';
    assert!(
        caught(same, true, true, bad_atr),
        "no transcript catches: ATR without `cardgate`"
    );
}
