//! `cargo xtask demo`: one operator card's story, told so that a person can follow it.
//!
//! Part 1 runs in process against the software card; part 2 (`cardgate-demo`, in `demo/`)
//! goes through the real stack: a private pcscd with a vpcd reader, cardgated, and PAM.
//!
//! The access manager makes an issuer key and lends a card; the operator logs in; three wrong
//! PINs lock the card; the PUK unblocks it; the card is reported lost and revoked, and the
//! next login is refused before the PIN is ever sent. Every APDU is shown (PIN and PUK bytes
//! masked).

use cardgate_card::commands::ins;
use cardgate_card::issue::unblock;
use cardgate_card::login::{login, LoginPolicy};
use cardgate_card::{IssuerPublicKey, OperatorCard, Pin, Puk, RevocationList, SecretString};
use cardgate_sim::transport::Transcript;
use cardgate_sim::{SimTransport, SoftCard};
use std::path::{Path, PathBuf};
use std::process::Command;

const OPERATOR: &str = "op-0042";
const PIN: &str = "Tanuki42";
const PUK: &str = "Kitsune12345";

fn step(n: u32, text: &str) {
    println!("\n── {n}. {text} ──────────────────────────────────────────");
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An APDU as a person should see it: secrets (VERIFY, CHANGE, RESET RETRY COUNTER data)
/// masked, long data shortened.
fn show_command(cmd: &[u8]) -> String {
    let secret = matches!(
        cmd.get(1).copied(),
        Some(ins::VERIFY | ins::CHANGE_REFERENCE_DATA | ins::RESET_RETRY_COUNTER)
    );
    if cmd.len() <= 5 || !secret {
        let shown = if cmd.len() > 24 {
            format!("{} … ({} bytes)", hex(&cmd[..24]), cmd.len())
        } else {
            hex(cmd)
        };
        return shown;
    }
    format!(
        "{} {} (secret, {} bytes)",
        hex(&cmd[..5]),
        "●●".repeat(3),
        cmd.len() - 5
    )
}

fn show(transcript: &Transcript) {
    for e in transcript.exchanges() {
        let name = match e.ins() {
            Some(ins::SELECT) => "SELECT",
            Some(ins::VERIFY) if e.command.get(3) == Some(&0x82) => "VERIFY (PUK)",
            Some(ins::VERIFY) => "VERIFY",
            Some(ins::INTERNAL_AUTHENTICATE) => "INTERNAL AUTHENTICATE",
            Some(ins::RESET_RETRY_COUNTER) => "RESET RETRY COUNTER",
            Some(ins::CHANGE_REFERENCE_DATA) => "CHANGE REFERENCE DATA",
            _ => "APDU",
        };
        let status = e
            .status()
            .map_or("(no answer)".to_string(), |s| s.to_string());
        let data_len = e.response.as_ref().map_or(0, |r| r.len().saturating_sub(2));
        println!("   > {name:<22} {}", show_command(&e.command));
        println!(
            "   < {status}{}",
            if data_len > 0 {
                format!(" with {data_len} bytes of data")
            } else {
                String::new()
            }
        );
    }
    transcript.clear();
}

fn binary(name: &str) -> PathBuf {
    crate::root().join("target").join("debug").join(name)
}

fn run_tool(name: &str, args: &[&str]) -> Result<String, String> {
    println!("   $ {name} {}", args.join(" "));
    let out = Command::new(binary(name))
        .args(args)
        .output()
        .map_err(|e| format!("could not run {name}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in stdout.lines() {
        println!("     {line}");
    }
    if !out.status.success() {
        return Err(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

fn open_card(path: &Path) -> Result<SimTransport, String> {
    let card = SoftCard::open(path).map_err(|e| format!("cannot open the card image: {e}"))?;
    Ok(SimTransport::new(card).with_reader_name("demo reader"))
}

fn load_list(path: &Path, issuer: &IssuerPublicKey) -> Result<RevocationList, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the revocation list: {e}"))?;
    RevocationList::verify(&bytes, issuer).map_err(|e| e.to_string())
}

/// Runs the demo.
pub fn run() -> Result<(), String> {
    crate::run(
        &std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        &[
            "build",
            "--quiet",
            "-p",
            "cardgatectl",
            "-p",
            "cardgate-sim",
            "--bins",
        ],
    )?;
    let dir = crate::root().join("target").join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let d = |p: &str| dir.join(p).to_string_lossy().into_owned();

    println!("cardgate demo — one operator card, from issue to revocation");
    println!("(files in {})", dir.display());

    step(1, "The access manager creates the issuer key (art. 5.1)");
    run_tool("cardgatectl", &["issuer", "init", "--dir", &d("issuer")])?;
    let issuer = IssuerPublicKey::from_hex(
        &std::fs::read_to_string(dir.join("issuer/issuer.pub")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    step(
        2,
        "…and lends a card to operator op-0042; the card makes its own key",
    );
    run_tool(
        "cardgate-sim",
        &[
            "create",
            "--issuer-key",
            &d("issuer/issuer.key"),
            "--operator",
            OPERATOR,
            "--pin",
            PIN,
            "--puk",
            PUK,
            "--serial",
            "1A2B3C4D5E6F7081",
            "--out",
            &d("op-0042.card"),
        ],
    )?;
    // An empty list, version 1, so terminals have a list in force.
    run_tool(
        "cardgatectl",
        &[
            "revocation",
            "refresh",
            "--issuer-dir",
            &d("issuer"),
            "--list",
            &d("revoked.crl"),
        ],
    )?;
    let card_path = dir.join("op-0042.card");
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(9, 0, 0).map_err(|e| e.to_string())?)
        .date();

    step(3, "The operator inserts the card and enters the right PIN");
    let list = load_list(&dir.join("revoked.crl"), &issuer)?;
    let policy = LoginPolicy {
        issuer: &issuer,
        revocation: &list,
        today,
    };
    let mut t = open_card(&card_path)?;
    let transcript = t.transcript();
    match login(&mut t, &policy, &SecretString::from(PIN)) {
        Ok(op) => {
            show(&transcript);
            println!(
                "   ✔ authenticated: operator {} (card {}, {}), valid until {}",
                op.operator_id, op.serial, op.role, op.valid_until
            );
        }
        Err(e) => return Err(format!("login with the right PIN failed: {e}")),
    }
    drop(t);

    step(
        4,
        "Someone else tries PINs: three wrong ones lock the card (art. 5.5)",
    );
    for attempt in ["Guess123", "Tanuki24", "tanuki42"] {
        let mut t = open_card(&card_path)?;
        let transcript = t.transcript();
        let result = login(&mut t, &policy, &SecretString::from(attempt));
        show(&transcript);
        match result {
            Err(e) => println!("   ✘ {e}"),
            Ok(_) => return Err("a wrong PIN was accepted".into()),
        }
    }
    let mut t = open_card(&card_path)?;
    let transcript = t.transcript();
    let result = login(&mut t, &policy, &SecretString::from(PIN));
    show(&transcript);
    match result {
        Err(e) => println!("   ✘ even the right PIN now: {e}"),
        Ok(_) => return Err("a blocked card let the right PIN in".into()),
    }
    drop(t);

    step(
        5,
        "The access manager unblocks the card with the PUK and a new PIN",
    );
    let new_pin = "Hanami2027";
    let mut t = open_card(&card_path)?;
    let transcript = t.transcript();
    let puk = Puk::parse(PUK).map_err(|e| e.to_string())?;
    let pin = Pin::parse(new_pin).map_err(|e| e.to_string())?;
    unblock(&mut OperatorCard::new(&mut t), &puk, &pin).map_err(|e| e.to_string())?;
    show(&transcript);
    println!(
        "   ✔ unblocked; PIN tries restored to {}",
        t.card().image().pin_tries()
    );
    let op = login(&mut t, &policy, &SecretString::from(new_pin)).map_err(|e| e.to_string())?;
    show(&transcript);
    println!("   ✔ authenticated again: operator {}", op.operator_id);
    drop(t);

    step(
        6,
        "The card is reported lost: the access manager revokes it at once (art. 5.4)",
    );
    run_tool(
        "cardgatectl",
        &[
            "revocation",
            "revoke",
            "--issuer-dir",
            &d("issuer"),
            "--list",
            &d("revoked.crl"),
            "1A2B3C4D5E6F7081",
            "--reason",
            "lost",
        ],
    )?;
    let list = load_list(&dir.join("revoked.crl"), &issuer)?;
    let policy = LoginPolicy {
        issuer: &issuer,
        revocation: &list,
        today,
    };

    step(
        7,
        "Whoever holds the card now is refused before the PIN is sent",
    );
    let mut t = open_card(&card_path)?;
    let transcript = t.transcript();
    let result = login(&mut t, &policy, &SecretString::from(new_pin));
    let sent_verify = transcript.contains_ins(ins::VERIFY);
    show(&transcript);
    match result {
        Err(e) if !sent_verify => {
            println!("   ✘ {e} — no VERIFY was sent, no PIN left the terminal")
        }
        Err(e) => return Err(format!("refused ({e}) but only after sending the PIN")),
        Ok(_) => return Err("a revoked card was accepted".into()),
    }
    println!("\nPart 1 is over: issue, login, lockout, unblock, revocation, all in process.");

    // Part 2: the same kind of story through the real stack (pcscd, vpcd, cardgated, PAM).
    // It needs root for its private namespaces, like the tests.
    crate::run(
        &std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        &["build", "--quiet", "--workspace", "--bins", "--lib"],
    )?;
    println!();
    crate::run(&binary("cardgate-demo").to_string_lossy(), &[])
}
