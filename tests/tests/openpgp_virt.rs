//! The virtual OpenPGP card (`tools/opcard-virt`: Nitrokey's opcard) through the real
//! stack: a private pcscd, vpcd, and outside programs (OpenSC's `opensc-tool`, GnuPG's
//! `gpg --card-status`, raw APDUs through PC/SC). What cardgate's OpenPGP profile relies on
//! from the card, and what the tests that use this card rely on from the harness: its own
//! randomness per card, state kept across a restart, the security state as a real card
//! keeps it, `--remove-after-apdus`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardgate_tests::openpgp::{
    self, CardEvent, OutsideClient, PowerHold, FACTORY_PW1, FACTORY_PW3, SW_OK,
    SW_SECURITY_NOT_SATISFIED,
};
use cardgate_tests::{PcscLab, VirtualOpenPgpCard};
use std::process::Command;
use std::time::{Duration, Instant};

/// opcard-virt's ATR: T=1 with opcard's historical bytes.
const ATR: [u8; 21] = [
    0x3B, 0xDA, 0x18, 0xFF, 0x81, 0xB1, 0xFE, 0x75, 0x1F, 0x03, 0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01,
    0x60, 0x00, 0x90, 0x00, 0x1C,
];

fn opensc_tool(lab: &PcscLab, args: &[&str]) -> String {
    lab.opensc_tool(args).unwrap()
}

/// A connected outside client with the OpenPGP application selected.
fn selected(lab: &PcscLab, slot: usize) -> OutsideClient {
    let mut client = OutsideClient::connect(lab, slot).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    client
}

/// How many power events (power on/off, reset) have reached the card so far.
fn power_events(lab: &PcscLab, slot: usize) -> usize {
    openpgp::card_events(lab, slot)
        .unwrap()
        .iter()
        .filter(|e| matches!(e, CardEvent::Power(_)))
        .count()
}

#[test]
fn pcscd_sees_the_card_and_opensc_names_it_openpgp_card_v3_4_with_its_serial() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::with_serial(&lab, "nk3", [0x12, 0x34, 0xAB, 0xCD]).unwrap();
    let _inserted = lab.serve_openpgp_card(1, &card, None).unwrap();
    assert_eq!(lab.wait_for_card(1).unwrap(), ATR.to_vec());
    let reader = lab.reader(1).unwrap().to_owned();
    let name = opensc_tool(&lab, &["-r", &reader, "-n"]);
    assert!(
        name.contains("OpenPGP card v3.4") && name.contains("1234ABCD"),
        "opensc-tool -n: {name}"
    );
    assert_eq!(card.serial_hex().unwrap(), "1234ABCD");
}

#[test]
fn gpg_card_status_reads_a_factory_fresh_card_and_what_another_client_wrote() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::with_serial(&lab, "fresh", [0x00, 0x00, 0x42, 0x42]).unwrap();
    let _inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let status = openpgp::gpg_card_status(&lab, 0).unwrap();
    eprintln!("gpg --card-status:\n{status}");
    assert!(
        status.contains("D2760001240103040000000042420000"),
        "the AID (v3.4, serial 00004242) is not in gpg's output:\n{status}"
    );
    assert!(status.contains("Version ..........: 3.4"), "{status}");
    assert!(status.contains("PIN retry counter : 3 0 3"), "{status}");
    assert!(
        status.contains("Key attributes ...: rsa2048 rsa2048 rsa2048"),
        "{status}"
    );
    // gpg changed nothing: a fresh client still finds PW1 with all its tries.
    let mut client = selected(&lab, 0);
    assert_eq!(client.verify_status(0x82).unwrap(), 0x63C3);
    // What another client writes, gpg reads: the authentication key's P-256 attributes.
    assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
    client.generate_p256_auth_key().unwrap();
    client.leave().unwrap();
    let status = openpgp::gpg_card_status(&lab, 0).unwrap();
    assert!(
        status.contains("Key attributes ...: rsa2048 rsa2048 nistp256"),
        "{status}"
    );
}

#[test]
fn two_cards_generate_different_keys() {
    let lab = PcscLab::start().unwrap();
    let a = VirtualOpenPgpCard::factory_fresh(&lab, "a").unwrap();
    let b = VirtualOpenPgpCard::factory_fresh(&lab, "b").unwrap();
    let _in_a = lab.insert_openpgp_card(0, &a).unwrap();
    let _in_b = lab.insert_openpgp_card(1, &b).unwrap();
    assert_ne!(
        a.serial_hex().unwrap(),
        b.serial_hex().unwrap(),
        "random serials"
    );
    let mut keys = Vec::new();
    for slot in [0, 1] {
        let mut client = selected(&lab, slot);
        assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
        let public = client.generate_p256_auth_key().unwrap();
        // 7F49 len { 86 41 04 X Y }: an uncompressed P-256 point.
        assert_eq!(&public[..2], &[0x7F, 0x49], "{public:02X?}");
        let point = public.windows(2).position(|w| w == [0x86, 0x41]).unwrap() + 2;
        keys.push(public[point..point + 65].to_vec());
    }
    assert_eq!(keys[0][0], 0x04);
    assert_ne!(
        keys[0], keys[1],
        "two cards made the same key: their randomness is not their own"
    );
}

#[test]
fn a_wrong_pin_counted_down_stays_counted_down_across_a_restart() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&lab, "restart").unwrap();
    let mut inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let serial = card.serial_hex().unwrap();
    let mut client = selected(&lab, 0);
    assert_eq!(client.verify_status(0x82).unwrap(), 0x63C3);
    assert_eq!(client.verify(0x82, "654321").unwrap(), 0x63C2);
    drop(client);
    let status = inserted.remove().unwrap();
    assert!(status.success(), "opcard-virt on SIGTERM: {status}");
    lab.wait_for_no_card(0).unwrap();

    let _again = lab.insert_openpgp_card(0, &card).unwrap();
    assert_eq!(
        card.serial_hex().unwrap(),
        serial,
        "the serial is the card's"
    );
    let mut client = selected(&lab, 0);
    let (aid, sw) = client
        .transmit(&openpgp::apdu(0x00, 0xCA, 0x00, 0x4F, &[]))
        .unwrap();
    assert_eq!(sw, SW_OK);
    assert_eq!(hex::encode_upper(&aid[10..14]), serial);
    assert_eq!(
        client.verify_status(0x82).unwrap(),
        0x63C2,
        "the wrong PIN's try came back after a restart"
    );
    assert_eq!(client.verify(0x82, FACTORY_PW1).unwrap(), SW_OK);
}

#[test]
fn the_security_state_survives_select_and_a_new_connection_and_verify_ff_clears_it() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&lab, "state").unwrap();
    let _inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let _power = PowerHold::connect(&lab, 0).unwrap();
    let mut client = selected(&lab, 0);
    assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
    client.generate_p256_auth_key().unwrap();
    // Before any VERIFY of PW1 the probe is refused: it can tell the two states apart.
    assert_eq!(
        openpgp::security_state_probe(&lab, 0).unwrap(),
        SW_SECURITY_NOT_SATISFIED
    );
    let events = power_events(&lab, 0);

    assert_eq!(client.verify(0x82, FACTORY_PW1).unwrap(), SW_OK);
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    let (signature, sw) = client.internal_authenticate(&[0x11; 32]).unwrap();
    assert_eq!(
        sw, SW_OK,
        "INTERNAL AUTHENTICATE after VERIFY and a new SELECT"
    );
    assert_eq!(signature.len(), 64, "r || s of P-256");
    // Another program's new connection finds PW1 still verified.
    assert_eq!(openpgp::security_state_probe(&lab, 0).unwrap(), SW_OK);

    assert_eq!(client.unverify(0x82).unwrap(), SW_OK);
    assert!(
        openpgp::card_events(&lab, 0)
            .unwrap()
            .contains(&CardEvent::Apdu {
                header: [0x00, 0x20, 0xFF, 0x82],
                len: 4,
                sw: SW_OK
            }),
        "the card log lacks VERIFY P1=FF"
    );
    assert_eq!(
        openpgp::security_state_probe(&lab, 0).unwrap(),
        SW_SECURITY_NOT_SATISFIED
    );
    assert_eq!(
        power_events(&lab, 0),
        events,
        "the card was powered or reset during the test: what it shows is not the card's own state"
    );
}

#[test]
fn a_power_off_or_a_reset_from_the_reader_clears_the_verified_pin() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&lab, "power").unwrap();
    let _inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let _power = PowerHold::connect(&lab, 0).unwrap();
    let mut client = selected(&lab, 0);
    assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
    client.generate_p256_auth_key().unwrap();
    assert_eq!(client.verify(0x82, FACTORY_PW1).unwrap(), SW_OK);
    assert_eq!(openpgp::security_state_probe(&lab, 0).unwrap(), SW_OK);
    let events = power_events(&lab, 0);
    client.power_cycle().unwrap();
    assert!(
        power_events(&lab, 0) > events,
        "no power event reached the card"
    );
    assert_eq!(
        openpgp::security_state_probe(&lab, 0).unwrap(),
        SW_SECURITY_NOT_SATISFIED
    );
    // A warm reset clears it too.
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    assert_eq!(client.verify(0x82, FACTORY_PW1).unwrap(), SW_OK);
    assert_eq!(openpgp::security_state_probe(&lab, 0).unwrap(), SW_OK);
    client.reset().unwrap();
    assert_eq!(
        openpgp::security_state_probe(&lab, 0).unwrap(),
        SW_SECURITY_NOT_SATISFIED
    );
}

#[test]
fn remove_after_apdus_leaves_the_reader_after_n_apdus() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&lab, "pull").unwrap();
    let mut process = lab.serve_openpgp_card(0, &card, Some(3)).unwrap();
    lab.wait_for_card(0).unwrap();
    let mut client = OutsideClient::connect(&lab, 0).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    assert_eq!(client.verify_status(0x82).unwrap(), 0x63C3);
    assert_eq!(client.verify_status(0x81).unwrap(), 0x63C3);
    let status = process.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "opcard-virt after 3 APDUs: {status}");
    lab.wait_for_no_card(0).unwrap();
    assert!(
        client.verify_status(0x82).is_err(),
        "a fourth APDU reached a card that left"
    );
}

/// Why [`PowerHold`] exists: pcscd powers a card that no client holds down by itself, and
/// with vpcd that comes within a second of the last disconnect (the event thread's polling
/// rounds), clearing PW1. A security-state test that let go of the card would see this.
#[test]
fn an_idle_card_is_powered_down_by_pcscd_and_forgets_pw1() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&lab, "idle").unwrap();
    let _inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let mut client = selected(&lab, 0);
    assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
    client.generate_p256_auth_key().unwrap();
    assert_eq!(client.verify(0x82, FACTORY_PW1).unwrap(), SW_OK);
    let events = power_events(&lab, 0);
    client.leave().unwrap();
    let left = Instant::now();
    while power_events(&lab, 0) == events {
        assert!(
            left.elapsed() < Duration::from_secs(10),
            "pcscd did not power the idle card down within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "pcscd powered the idle card down {:?} after the last disconnect",
        left.elapsed()
    );
    assert_eq!(
        openpgp::security_state_probe(&lab, 0).unwrap(),
        SW_SECURITY_NOT_SATISFIED
    );
}

/// The cardholder certificate DO (`7F21`) is longer than one short APDU each way: it goes
/// in by command chaining (CLA bit `0x10`) and comes out in `61xx` + GET RESPONSE rounds.
#[test]
fn a_certificate_longer_than_a_short_apdu_goes_in_chained_and_comes_out_by_get_response() {
    let lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&lab, "chain").unwrap();
    let _inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let mut client = selected(&lab, 0);
    assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
    let certificate: Vec<u8> = (0..700u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut parts = certificate.chunks(255).peekable();
    while let Some(part) = parts.next() {
        let cla = if parts.peek().is_some() { 0x10 } else { 0x00 };
        let mut command = vec![cla, 0xDA, 0x7F, 0x21, part.len() as u8];
        command.extend_from_slice(part);
        let (_, sw) = client.transmit(&command).unwrap();
        assert_eq!(sw, SW_OK, "PUT DATA 7F21 part (CLA {cla:02X})");
    }
    let (read, sw) = client
        .transmit(&openpgp::apdu(0x00, 0xCA, 0x7F, 0x21, &[]))
        .unwrap();
    assert_eq!(sw, SW_OK);
    assert_eq!(read, certificate, "the certificate read back differs");
    // Through OpenSC too: an independent client's GET RESPONSE handling reads all 700.
    let reader = lab.reader(0).unwrap().to_owned();
    let out = opensc_tool(
        &lab,
        &[
            "-r",
            &reader,
            "-s",
            "00 A4 04 00 06 D2 76 00 01 24 01 00",
            "-s",
            "00 CA 7F 21 00",
        ],
    );
    let dump = out
        .rsplit_once("Received (SW1=0x90, SW2=0x00)")
        .map(|(_, dump)| dump)
        .unwrap_or_else(|| panic!("no 9000 from GET DATA 7F21 in opensc-tool's output:\n{out}"));
    // opensc-tool's hex dump: 16 bytes a line, hex then ASCII.
    let bytes: Vec<u8> = dump
        .lines()
        // The rest of the "Received" line is a colon; the dump lines start with a hex pair.
        .filter(|l| l.len() >= 2 && l.bytes().take(2).all(|b| b.is_ascii_hexdigit()))
        .flat_map(|l| {
            l.get(..48.min(l.len()))
                .unwrap_or_default()
                .split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(bytes, certificate, "opensc-tool read another certificate");
    // An extended Le (00 00 00) reaches the card as sent, and the whole DO comes in one
    // response: vpcd passes extended APDUs.
    let before = openpgp::card_events(&lab, 0).unwrap().len();
    let out = opensc_tool(&lab, &["-r", &reader, "-s", "00 CA 7F 21 00 00 00"]);
    assert!(out.contains("Received (SW1=0x90, SW2=0x00)"), "{out}");
    let events = openpgp::card_events(&lab, 0).unwrap();
    let apdus: Vec<&CardEvent> = events[before..]
        .iter()
        .filter(|e| matches!(e, CardEvent::Apdu { .. }))
        .collect();
    // (OpenSC's card detection sends its own APDUs first.)
    assert!(
        apdus.last()
            == Some(&&CardEvent::Apdu {
                header: [0x00, 0xCA, 0x7F, 0x21],
                len: 7,
                sw: SW_OK
            }),
        "the extended GET DATA did not reach the card as one extended APDU: {apdus:?}"
    );
}

/// opcard-virt's own errors name what is wrong, with exit 2 for usage and 1 otherwise.
#[test]
fn opcard_virt_names_a_bad_state_dir_a_busy_card_and_an_absent_reader() {
    let binary = cardgate_tests::paths::opcard_virt_binary().unwrap();
    let dir = std::env::temp_dir().join(format!("opcard-virt-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(&binary).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let os = |s: &str| std::ffi::OsString::from(s);

    let (code, err) = run(&[&os("--state"), dir.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--vpcd is required"), "{err}");

    // Nothing listens on the discard port of this machine's loopback.
    let state = dir.join("card");
    let (code, err) = run(&[
        &os("--vpcd"),
        &os("127.0.0.1:9"),
        &os("--state"),
        state.as_os_str(),
        &os("--connect-timeout"),
        &os("0"),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("127.0.0.1:9") && err.contains(&state.display().to_string()),
        "{err}"
    );

    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("external.bin"), b"someone else's file").unwrap();
    let (code, err) = run(&[
        &os("--vpcd"),
        &os("127.0.0.1:9"),
        &os("--state"),
        foreign.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("external.bin") && err.contains("19 bytes"),
        "{err}"
    );

    let (code, err) = run(&[
        &os("--vpcd"),
        &os("127.0.0.1:9"),
        &os("--state"),
        state.as_os_str(),
        &os("--serial"),
        &os("DEADBEEF"),
        &os("--connect-timeout"),
        &os("0"),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("not DEADBEEF"),
        "a card's serial changed: {err}"
    );

    // One card, one process: a second on the same state is refused while the first waits
    // for its reader. The second is run only once the kernel shows the first holding the
    // lock (`/proc/locks`): run in a loop beside the first's start, a second holding the lock
    // for its short life made the first exit as the busy one, and under load the test then
    // waited for a lock nobody would take.
    let mut first = Command::new(&binary)
        .args([
            &os("--vpcd"),
            &os("127.0.0.1:9"),
            &os("--state"),
            state.as_os_str(),
        ])
        .args(["--connect-timeout", "60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let holder = format!(" {} ", first.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = first.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut pipe) = first.stderr.take() {
                std::io::Read::read_to_string(&mut pipe, &mut err).unwrap();
            }
            panic!("the first opcard-virt ended ({status}): {err}");
        }
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        if locks
            .lines()
            .any(|l| l.contains("FLOCK") && l.contains(&holder))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the first never took its lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, err) = run(&[
        &os("--vpcd"),
        &os("127.0.0.1:9"),
        &os("--state"),
        state.as_os_str(),
        &os("--connect-timeout"),
        &os("0"),
    ]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("another opcard-virt runs the card"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pcscd restart drops vpcd's connection: the card comes back into the new pcscd's
/// reader by itself, having lost its power (PW1 no longer verified) but nothing it keeps.
#[test]
fn after_a_pcscd_restart_the_card_is_back_unpowered_with_what_it_keeps() {
    let mut lab = PcscLab::start().unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&lab, "restart-pcscd").unwrap();
    let _inserted = lab.insert_openpgp_card(0, &card).unwrap();
    let mut client = selected(&lab, 0);
    assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
    client.generate_p256_auth_key().unwrap();
    assert_eq!(client.verify(0x82, "000000").unwrap(), 0x63C2);
    assert_eq!(client.verify(0x82, FACTORY_PW1).unwrap(), SW_OK);
    drop(client);
    lab.restart_pcscd().unwrap();
    lab.wait_for_card(0).unwrap();
    assert_eq!(
        openpgp::security_state_probe(&lab, 0).unwrap(),
        SW_SECURITY_NOT_SATISFIED
    );
    let mut client = selected(&lab, 0);
    // A right PIN resets the counter; the key generated before the restart still signs.
    assert_eq!(client.verify_status(0x82).unwrap(), 0x63C3);
    assert_eq!(client.verify(0x82, FACTORY_PW1).unwrap(), SW_OK);
    let (signature, sw) = client.internal_authenticate(&[0x22; 32]).unwrap();
    assert_eq!((signature.len(), sw), (64, SW_OK));
}
