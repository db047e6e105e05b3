//! Load (issue 7): 16 terminals, each running a fixed number of logins (authenticate, open a
//! session, close it) against one real `cardgated`, while a seeded chaos thread pulls cards
//! at random (SIGKILL or SIGTERM of the card process) and puts them back. Afterwards: the
//! daemon still answers, no session is open for a card that is out, and the audit log
//! verifies with k(0) and holds exactly one record per event the clients and the stand-in
//! loginctl saw.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{PIN, PUK};
use cardgate_tests::{outcome, Office, TerminalSpec};
use cardgate_tests::{CardProcess, PcscLab, SoftCardFile};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TERMINALS: usize = 16;
const LOGINS_PER_TERMINAL: usize = 20;
const SEED: u64 = 0x5EED_CA4D_6A7E;

/// xorshift64*: enough randomness to choose a card, the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default, Debug)]
struct Seen {
    granted: usize,
    denied_recorded: usize,
    answers: BTreeMap<String, usize>,
    sessions_opened: usize,
    sessions_closed: usize,
}

#[test]
fn sixteen_terminals_log_in_while_cards_are_pulled_at_random() {
    let lab = PcscLab::with_readers(TERMINALS).unwrap();
    let ids: Vec<String> = (0..TERMINALS).map(|i| format!("juki-{i:02}")).collect();
    let operators: Vec<(String, String)> = (0..TERMINALS)
        .map(|i| (format!("op-{i:02}"), format!("user{i:02}")))
        .collect();
    let terminals: Vec<TerminalSpec<'_>> = ids
        .iter()
        .enumerate()
        .map(|(slot, id)| TerminalSpec { id, slot })
        .collect();
    let operator_refs: Vec<(&str, &str)> = operators
        .iter()
        .map(|(o, u)| (o.as_str(), u.as_str()))
        .collect();
    let office = Office::with_setup(lab, &terminals, &operator_refs, "", |_| {}).unwrap();
    let cards: Vec<SoftCardFile> = operators
        .iter()
        .map(|(op, _)| {
            SoftCardFile::personalised(&office.lab, &office.issuer, op, PIN, PUK).unwrap()
        })
        .collect();
    let mut daemon = office.start_daemon().unwrap();
    // Inserted after the daemon started, so that it records every insertion.
    let slots: Vec<Mutex<Option<CardProcess>>> = cards
        .iter()
        .enumerate()
        .map(|(slot, card)| Mutex::new(Some(office.lab.serve_card(slot, card, None).unwrap())))
        .collect();
    for slot in 0..TERMINALS {
        office.lab.wait_for_card(slot).unwrap();
    }
    let mut insertions = TERMINALS;
    let mut removals = 0;

    let done = AtomicBool::new(false);
    let (ins, outs) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));
    std::thread::scope(|scope| {
        for t in 0..TERMINALS {
            let (office, ids, operators, seen, slots) =
                (&office, &ids, &operators, seen.clone(), &slots);
            scope.spawn(move || {
                let (terminal, user) = (&ids[t], &operators[t].1);
                for i in 0..LOGINS_PER_TERMINAL {
                    let a = office.authenticate(terminal, user, PIN);
                    let got = outcome(&a);
                    let mut s = seen.lock().unwrap();
                    *s.answers.entry(got.clone()).or_default() += 1;
                    match a["result"].as_str() {
                        Some("granted") => s.granted += 1,
                        // The back-off answers without a record; nothing else does.
                        Some("denied") if got != "rate_limited" => s.denied_recorded += 1,
                        Some("denied") => {}
                        _ => panic!("{terminal}: {a}"),
                    }
                    drop(s);
                    if got != "granted" {
                        // The card was pulled: the operator waits until it is back (the
                        // puller holds the slot until the card is in again).
                        drop(slots[t].lock().unwrap());
                        continue;
                    }
                    // logind session IDs are letters and digits only.
                    let session = format!("t{t}n{i}");
                    let open = office.open_session(terminal, user, &session);
                    if open["result"] != "granted" {
                        continue;
                    }
                    seen.lock().unwrap().sessions_opened += 1;
                    // The operator works a little while.
                    std::thread::sleep(Duration::from_millis(150));
                    let close = office
                        .ask(&format!(
                            r#"{{"op":"close_session","user":"{user}","session_id":"{session}"}}"#
                        ))
                        .unwrap();
                    assert_eq!(close["result"], "granted", "{session}: {close}");
                    seen.lock().unwrap().sessions_closed += 1;
                }
            });
        }
        // Chaos: every 30-130 ms, pull a random card that is in, let pcscd see it go, and
        // put it back a moment later (each pull on a thread of its own).
        let (slots, cards, done, office) = (&slots, &cards, &done, &office);
        let (ins, outs) = (&ins, &outs);
        let chaos = scope.spawn(move || {
            let mut rng = Rng(SEED);
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(30 + rng.below(100)));
                let slot = rng.below(TERMINALS as u64) as usize;
                let kill = rng.below(2) == 0;
                scope.spawn(move || {
                    let Ok(mut guard) = slots[slot].try_lock() else {
                        return; // that card is already out
                    };
                    let mut card = guard.take().unwrap();
                    if kill {
                        card.kill();
                    } else {
                        card.remove().unwrap();
                    }
                    office.lab.wait_for_no_card(slot).unwrap();
                    outs.fetch_add(1, Ordering::SeqCst);
                    // vpcd needs a moment after a removal before it takes the next card.
                    std::thread::sleep(Duration::from_millis(500));
                    *guard = Some(office.lab.serve_card(slot, &cards[slot], None).unwrap());
                    office.lab.wait_for_card(slot).unwrap();
                    ins.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        // The terminal threads are the first TERMINALS spawned; the scope joins them all at
        // its end, but the chaos must stop when they are done.
        while Arc::strong_count(&seen) > 1 {
            std::thread::sleep(Duration::from_millis(50));
        }
        done.store(true, Ordering::SeqCst);
        chaos.join().unwrap();
    });
    // The scope joined every pull: every card is back in.
    insertions += ins.load(Ordering::SeqCst);
    removals += outs.load(Ordering::SeqCst);
    let seen = Arc::try_unwrap(seen).unwrap().into_inner().unwrap();
    eprintln!("load: {seen:?}, {removals} removals");
    assert!(removals >= 10, "the chaos pulled only {removals} cards");

    // Every terminal leaves a session open; then half the cards leave for good. A card put
    // back a moment ago may still be settling: the retries' refusals are recorded too.
    let mut final_denied = 0usize;
    for (t, (_, user)) in operators.iter().enumerate() {
        let start = std::time::Instant::now();
        let mut tries = 0;
        let granted = loop {
            tries += 1;
            let a = office.authenticate(&ids[t], user, PIN);
            if a["result"] == "granted" || start.elapsed() > Duration::from_secs(5) {
                break a;
            }
            if a["reason"] != "rate_limited" {
                final_denied += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        eprintln!(
            "{}: final login after {tries} tries, {:?}",
            ids[t],
            start.elapsed()
        );
        assert_eq!(granted["result"], "granted", "{}: {granted}", ids[t]);
        assert_eq!(
            office.open_session(&ids[t], user, &format!("last{t}"))["result"],
            "granted"
        );
    }
    for slot in (0..TERMINALS).step_by(2) {
        slots[slot].lock().unwrap().take().unwrap().kill();
        office.lab.wait_for_no_card(slot).unwrap();
        removals += 1;
    }
    for t in (0..TERMINALS).step_by(2) {
        office.wait_for_session_state(&format!("last{t}"), "locked");
    }
    // No crash; no session open for a card that is out; the others untouched.
    assert!(daemon.is_running(), "{}", daemon.log_text());
    let sessions = office.sessions();
    assert_eq!(sessions.len(), TERMINALS, "{sessions:?}");
    for (id, state) in &sessions {
        let t: usize = id.strip_prefix("last").unwrap().parse().unwrap();
        let expected = if t.is_multiple_of(2) {
            "locked"
        } else {
            "active"
        };
        assert_eq!(state, expected, "{id}");
    }
    daemon.stop();

    // One record per event.
    office.verify_audit();
    let calls = office.loginctl_calls();
    let called = |verb: &str| calls.iter().filter(|c| c.starts_with(verb)).count();
    assert_eq!(office.count("login_granted"), seen.granted + TERMINALS);
    // A refusal that repeats one already written in its window is counted, not written
    // again (`[refusals]`): written and counted together are every refusal answered.
    let held: u64 = office
        .audit_lines()
        .iter()
        .filter_map(
            |l| match cardgate_audit::Record::parse(l.as_bytes()).ok()?.event {
                cardgate_audit::Event::DenialsSuppressed { count, .. } => Some(count),
                _ => None,
            },
        )
        .sum();
    assert_eq!(
        office.count("login_denied") as u64 + held,
        (seen.denied_recorded + final_denied) as u64
    );
    assert_eq!(office.count("session_ended"), seen.sessions_closed);
    assert_eq!(office.count("session_locked"), called("lock-session"));
    assert_eq!(office.count("session_unlocked"), called("unlock-session"));
    // Every pull and every insertion is recorded. vpcd may also drop a card's connection after
    // a failed exchange, and the card then reconnects: pcscd reports that as one more removal
    // and insertion, both recorded. So the counts may exceed the pulls, but always by the same
    // number, and the cards still in at the end are exactly the difference.
    let (recorded_out, recorded_in) = (office.count("card_removed"), office.count("card_inserted"));
    assert!(
        recorded_out >= removals,
        "{recorded_out} removals recorded, {removals} made"
    );
    assert_eq!(
        recorded_in - recorded_out,
        insertions - removals,
        "{recorded_in} in, {recorded_out} out"
    );
    assert_eq!(insertions - removals, TERMINALS / 2);
    assert_eq!(office.count("daemon_started"), 1);
    assert_eq!(office.count("daemon_stopped"), 1);
}
