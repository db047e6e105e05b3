//! cardgated under measurement, through the real stack: a private pcscd with 16 vpcd readers,
//! a software card in each, `cardgated` as its own process.
//!
//! * login latency through the daemon, as a ratio to the floor: the raw time of the same
//!   APDUs (SELECT, VERIFY, INTERNAL AUTHENTICATE, the clearing SELECT) sent straight through
//!   PC/SC to the same card, alternating with the daemon's logins;
//! * the same for the OpenPGP card profile, side by side: an independent card
//!   (`tools/opcard-virt`, Nitrokey's firmware on a PC) issued by `cardgatectl card issue`
//!   from its factory state, so with its KDF-DO on; its floor is the profile's own APDUs
//!   (the two SELECTs, `VERIFY P1=FF` before and after, the data objects read, VERIFY of the
//!   hashed PIN, INTERNAL AUTHENTICATE) through the same host code, the PIN hash included;
//! * concurrent logins on 16 terminals;
//! * removal to lock: from the moment pcscd reports the card gone (seen by this process's own
//!   `SCardGetStatusChange`) to the stand-in `loginctl lock-session` call, p50 and p99;
//! * the daemon's memory (VmRSS) at idle and after the load.
//!
//! The office is the test harness's (`cardgate_tests::Office`), so the release builds of
//! `cardgated` and `cardgatectl` must be there: `cargo xtask bench` builds them and runs every
//! benchmark; by hand, `cargo build --release --workspace --bins` first, then
//! `cargo bench -p cardgate-sessiond --bench daemon` (as root). Figures go to
//! docs/performance.md by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::openpgp::kdf::{Kdf, Password};
use cardgate_card::{OperatorCard, Pin};
use cardgate_reader::pcsc::{AfterTransaction, ConnectOptions, PcscContext};
use cardgate_tests::fixtures::{INITIAL_PIN, PIN, PUK};
use cardgate_tests::{Office, PcscLab, SoftCardFile, TerminalSpec, VirtualOpenPgpCard};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

const TERMINALS: usize = 16;
const SEQUENTIAL_LOGINS: usize = 300;
const LOGINS_PER_TERMINAL: usize = 25;
const REMOVALS: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ask(socket: &Path, line: &str) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn main() {
    // `cargo bench` passes --bench; nextest/`cargo test --benches` would pass other flags.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let ids: Vec<String> = (0..TERMINALS).map(|t| format!("juki-{t:02}")).collect();
    let terminals: Vec<TerminalSpec<'_>> = ids
        .iter()
        .enumerate()
        .map(|(slot, id)| TerminalSpec { id, slot })
        .collect();
    let operators: Vec<(String, String)> = (0..TERMINALS)
        .map(|t| (format!("op-{t:02}"), format!("user{t:02}")))
        .collect();
    let operator_refs: Vec<(&str, &str)> = operators
        .iter()
        .map(|(o, u)| (o.as_str(), u.as_str()))
        .collect();
    let office = Office::new(
        PcscLab::with_readers(TERMINALS).unwrap(),
        &terminals,
        &operator_refs,
        "",
    )
    .unwrap();
    let (lab, dir) = (&office.lab, office.dir.clone());
    // A leaner stand-in loginctl than the office's: it only stamps each call, as given. The
    // office's also checks its control files, and those forks would count in the
    // removal-to-lock figure (the daemon times its loginctl call until it returns). Its
    // show-session says what a graphical session whose locker has locked says (closing once
    // terminated), so that the lock is confirmed at the first read back, which comes after
    // the timed call.
    let calls = dir.join("loginctl.raw");
    let loginctl = dir.join("loginctl");
    std::fs::write(
        &loginctl,
        format!(
            "#!/bin/sh\nd={d}\nif [ \"$1\" = show-session ]; then for a; do id=$a; done\n\
             s=active; [ -e $d/closing-$id ] && s=closing\n\
             exec printf 'Type=x11\\nState=%s\\nLockedHint=yes\\n' $s; fi\n\
             echo \"$(date +%s%N) $@\" >> {calls}\n\
             [ \"$1\" = terminate-session ] && : > $d/closing-$3\nexit 0\n",
            d = dir.display(),
            calls = calls.display()
        ),
    )
    .unwrap();

    let cards: Vec<SoftCardFile> = operators
        .iter()
        .map(|(op, _)| office.personalised_card(op, PIN).unwrap())
        .collect();
    let mut inserted: Vec<_> = (0..TERMINALS)
        .map(|t| lab.serve_card(t, &cards[t], None).unwrap())
        .collect();
    for t in 0..TERMINALS {
        lab.wait_for_card(t).unwrap();
    }

    // The floor: the APDUs of a login through cardgated (SELECT, VERIFY, INTERNAL
    // AUTHENTICATE and the clearing SELECT), straight through PC/SC on a kept context, in one
    // transaction on a fresh connection each, the card left as it is: what the daemon's
    // transaction seam does, minus the daemon.
    let reader0 = lab.reader(0).unwrap().to_owned();
    let context = PcscContext::establish().unwrap();
    let pin = Pin::parse(PIN).unwrap();
    let raw_login = || floor_login(&context, &reader0, &pin);

    let socket = office.login_socket();
    // At info level the daemon logs each removal's lock with its duration (read below).
    let daemon = office
        .start_daemon_in(&["env", "CARDGATE_LOG=info"])
        .unwrap();
    let pid = daemon.pid().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = rss_kib(pid);

    let login = |t: usize| {
        format!(
            r#"{{"op":"authenticate","terminal":"juki-{t:02}","user":"user{t:02}","pin":"{PIN}"}}"#
        )
    };
    // Floor and daemon alternate, login by login, on the same card in the same reader, so
    // that drift in the machine's load touches both alike.
    let (mut raw, mut through) = (Vec::new(), Vec::new());
    for _ in 0..SEQUENTIAL_LOGINS {
        raw.push(raw_login());
        let start = Instant::now();
        let answer = ask(&socket, &login(0));
        through.push(start.elapsed());
        assert!(answer.contains("granted"), "{answer}");
    }
    drop(context);

    // 16 terminals at once.
    let wall = Instant::now();
    let per_login: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..TERMINALS)
            .map(|t| {
                let socket = socket.clone();
                let line = login(t);
                s.spawn(move || {
                    (0..LOGINS_PER_TERMINAL)
                        .map(|_| {
                            let start = Instant::now();
                            let answer = ask(&socket, &line);
                            assert!(
                                answer.contains("granted"),
                                "{answer}\n{}",
                                std::fs::read_to_string(socket.with_file_name("cardgated.log"))
                                    .unwrap_or_default()
                            );
                            start.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let wall = wall.elapsed();
    let rss_load = rss_kib(pid);

    // Removal to lock, on terminal 0. Two measures: from the removal event inside cardgated
    // to its loginctl call returning (what the daemon controls; from its own log), and from
    // pulling the card (the card process killed) to the loginctl call (which includes how
    // long pcscd takes to notice: it polls a vpcd reader every 400 ms).
    let mut wall_removal = Vec::new();
    for i in 0..REMOVALS {
        let a = ask(&socket, &login(0));
        assert!(
            a.contains("granted"),
            "removal round {i}: {a}\n{}",
            std::fs::read_to_string(dir.join("cardgated.log"))
                .unwrap_or_default()
                .lines()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let id = format!("r{i}");
        let open = ask(
            &socket,
            &format!(
                r#"{{"op":"open_session","terminal":"juki-00","user":"user00","session_id":"{id}"}}"#
            ),
        );
        assert!(open.contains("granted"), "{open}");
        let pulled = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        inserted[0].kill();
        let waiting = std::time::Instant::now();
        let locked_at = loop {
            assert!(
                waiting.elapsed() < Duration::from_secs(20),
                "no lock-session for {id}"
            );
            let text = std::fs::read_to_string(&calls).unwrap_or_default();
            // The daemon passes the session ID after `--`.
            if let Some(line) = text
                .lines()
                .find(|l| l.ends_with(&format!("lock-session -- {id}")))
            {
                let ns: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
                break Duration::from_nanos(ns);
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        wall_removal.push(locked_at.saturating_sub(pulled));
        let _ = ask(
            &socket,
            &format!(r#"{{"op":"close_session","user":"user00","session_id":"{id}"}}"#),
        );
        inserted[0] = lab.serve_card(0, &cards[0], None).unwrap();
        lab.wait_for_card(0).unwrap();
    }
    let log = std::fs::read_to_string(dir.join("cardgated.log")).unwrap();
    let mut removal: Vec<Duration> = log
        .lines()
        .filter(|l| l.contains("removal: lock asked of logind"))
        .filter_map(|l| {
            l.split("micros=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .map(Duration::from_micros)
        .collect();
    assert_eq!(
        removal.len(),
        REMOVALS,
        "the daemon logged {} of {REMOVALS} removals",
        removal.len()
    );

    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    let mut sorted = per_login.clone();
    sorted.sort();
    removal.sort();
    let removal_sorted = removal;
    wall_removal.sort();
    let (raw_mean, through_mean) = (mean(&raw), mean(&through));
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        percentile(&v, 0.5)
    };
    let (raw_median, through_median) = (median(&raw), median(&through));
    println!(
        "login: floor, the same four APDUs straight through PC/SC, {SEQUENTIAL_LOGINS} logins: mean {} median {}",
        ms(raw_mean),
        ms(raw_median)
    );
    println!(
        "login: through cardgated (socket, checks, one durable batch of records, the same APDUs), {SEQUENTIAL_LOGINS} logins alternating with the floor: mean {} median {}",
        ms(through_mean),
        ms(through_median)
    );
    println!(
        "login: ratio to the floor: mean {:.2} median {:.2}",
        through_mean.as_secs_f64() / raw_mean.as_secs_f64(),
        through_median.as_secs_f64() / raw_median.as_secs_f64()
    );
    println!(
        "concurrent: {TERMINALS} terminals x {LOGINS_PER_TERMINAL} logins in {} = {:.1} logins/s; per login p50 {} p99 {}",
        ms(wall),
        (TERMINALS * LOGINS_PER_TERMINAL) as f64 / wall.as_secs_f64(),
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99))
    );
    println!(
        "removal event to lock-session done ({REMOVALS} removals): p50 {} p99 {} max {}",
        ms(percentile(&removal_sorted, 0.5)),
        ms(percentile(&removal_sorted, 0.99)),
        ms(*removal_sorted.last().unwrap())
    );
    println!(
        "card pulled to lock-session (includes pcscd's 400 ms vpcd poll): p50 {} p99 {} max {}",
        ms(percentile(&wall_removal, 0.5)),
        ms(percentile(&wall_removal, 0.99)),
        ms(*wall_removal.last().unwrap())
    );
    println!("cardgated RSS: idle {rss_idle} KiB, after the load {rss_load} KiB");
    drop(daemon);
    drop(office);
    openpgp_logins(through_mean);
}

/// One login's APDUs straight through PC/SC, as the daemon's transaction seam sends them,
/// minus the daemon: the same host code (`OperatorCard`: SELECT, VERIFY, INTERNAL
/// AUTHENTICATE, whichever the card's profile), in one transaction on a fresh connection of a
/// kept context, ended with the seam's own ending, the card left as it is.
fn floor_login(context: &PcscContext, reader: &str, pin: &Pin) -> Duration {
    let start = Instant::now();
    let mut card = context.connect(reader, ConnectOptions::default()).unwrap();
    let mut tx = card.begin_transaction().unwrap();
    let mut host = OperatorCard::new(&mut tx);
    host.select().unwrap().unwrap();
    assert_eq!(
        host.verify_pin(pin).unwrap(),
        cardgate_card::Verification::Verified
    );
    host.internal_authenticate(&[7u8; 32]).unwrap();
    drop(host);
    assert!(cardgate_card::reselect().clear(&mut tx));
    tx.end(AfterTransaction::LeaveCard).unwrap();
    card.leave().unwrap();
    start.elapsed()
}

/// The OpenPGP card profile, in a lab of its own (pcscd serves at most 16 readers, all taken
/// above): a factory-fresh virtual card issued as an access manager would, its first PIN
/// changed, then logins through cardgated alternating with its floor, the same host code
/// (`OperatorCard`, the PIN's KDF hash included) straight through PC/SC.
fn openpgp_logins(v1_through_mean: Duration) {
    let office = Office::new(
        PcscLab::with_readers(2).unwrap(),
        &[TerminalSpec {
            id: "juki-00",
            slot: 0,
        }],
        &[("op-00", "user00")],
        "",
    )
    .unwrap();
    let lab = &office.lab;
    let card = VirtualOpenPgpCard::factory_fresh(lab, "openpgp").unwrap();
    let _inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let reader = lab.reader(0).unwrap().to_owned();
    let daemon = office.start_daemon().unwrap();
    let socket = office.login_socket();
    office
        .issue_openpgp_card(&reader, "op-00", PUK, INITIAL_PIN)
        .unwrap();
    let changed = ask(
        &socket,
        &format!(
            r#"{{"op":"change_pin","terminal":"juki-00","user":"user00","old":"{INITIAL_PIN}","new":"{PIN}"}}"#
        ),
    );
    assert!(changed.contains("granted"), "{changed}");

    let context = PcscContext::establish().unwrap();
    let pin = Pin::parse(PIN).unwrap();
    let floor = || floor_login(&context, &reader, &pin);
    let login = r#"{"op":"authenticate","terminal":"juki-00","user":"user00","pin":""#.to_owned()
        + PIN
        + r#""}"#;
    let (mut raw, mut through) = (Vec::new(), Vec::new());
    for _ in 0..SEQUENTIAL_LOGINS {
        raw.push(floor());
        let start = Instant::now();
        let answer = ask(&socket, &login);
        through.push(start.elapsed());
        assert!(answer.contains("granted"), "{answer}");
    }
    drop(context);
    drop(daemon);
    // What the PIN's hash alone costs the host (inside both figures above).
    let kdf = Kdf::generate().unwrap();
    let hashing = Instant::now();
    for _ in 0..20 {
        assert_eq!(kdf.derive(Password::User, PIN).len(), 32);
    }
    let kdf_each = hashing.elapsed() / 20;

    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        percentile(&v, 0.5)
    };
    let (floor_mean, through_mean) = (mean(&raw), mean(&through));
    let (floor_median, through_median) = (median(&raw), median(&through));
    println!(
        "openpgp login: floor, the profile's APDUs through the same host code straight through PC/SC, {SEQUENTIAL_LOGINS} logins: mean {} median {}",
        ms(floor_mean),
        ms(floor_median)
    );
    println!(
        "openpgp login: through cardgated, {SEQUENTIAL_LOGINS} logins alternating with the floor: mean {} median {}",
        ms(through_mean),
        ms(through_median)
    );
    println!(
        "openpgp login: ratio to its floor: mean {:.2} median {:.2}; to the operator-card-v1 login through cardgated: mean {:.2}",
        through_mean.as_secs_f64() / floor_mean.as_secs_f64(),
        through_median.as_secs_f64() / floor_median.as_secs_f64(),
        through_mean.as_secs_f64() / v1_through_mean.as_secs_f64()
    );
    println!(
        "openpgp login: of which the PIN's KDF hash on the host ({} bytes of SHA-256): {}",
        cardgate_card::openpgp::kdf::ITERATION_COUNT,
        ms(kdf_each)
    );
}
