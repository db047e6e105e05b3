//! The revocation list file replaced by a torn write, an older version, or a list signed by
//! another key, under the real daemon: the list in force stays (its version on the admin
//! socket's `status`), the revoked card stays refused, and a good card still logs in.

use cardgate_card::revocation::RevocationListBuilder;
use cardgate_card::IssuerKey;
use cardgate_tests::fixtures::{PIN, PUK};
use cardgate_tests::{outcome, Office, TerminalSpec};
use cardgate_tests::{PcscLab, SoftCardFile};
use std::time::{Duration, Instant};

/// Two ticks of the daemon (it looks at the list file once a second).
const TWO_TICKS: Duration = Duration::from_millis(2_200);

#[test]
fn a_torn_older_or_foreign_list_is_refused_and_the_list_in_force_stays() {
    let office = Office::with_setup(
        PcscLab::start().unwrap(),
        &[
            TerminalSpec {
                id: "juki-01",
                slot: 0,
            },
            TerminalSpec {
                id: "juki-02",
                slot: 1,
            },
        ],
        &[("op-0042", "tanaka"), ("op-0043", "suzuki")],
        "",
        |_| {},
    )
    .unwrap();
    let lost =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK).unwrap();
    let good =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0043", PIN, PUK).unwrap();
    let _lost_in = office.lab.serve_card(0, &lost, None).unwrap();
    let _good_in = office.lab.serve_card(1, &good, None).unwrap();
    office.lab.wait_for_card(0).unwrap();
    office.lab.wait_for_card(1).unwrap();
    let _daemon = office.start_daemon().unwrap();
    assert_eq!(office.list_version(), Some(1));
    let list = office.dir.join("state/revoked.crl");
    let v1 = std::fs::read(&list).unwrap();

    let serial = lost.image().certificate().unwrap().body.serial.to_string();
    office
        .ctl_ok(
            &[
                "card",
                "revoke",
                &serial,
                "--reason",
                "lost",
                "--issuer-dir",
                &office.path("issuer"),
                // A card made for the test, not issued through this register.
                "--not-in-register",
                "--yes",
            ],
            "",
        )
        .unwrap();
    let start = Instant::now();
    while office.list_version() != Some(2) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the revocation never took effect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let v2 = std::fs::read(&list).unwrap();
    // The next version, made aside, to tear.
    let scratch = office.dir.join("scratch.crl");
    std::fs::write(&scratch, &v2).unwrap();
    office
        .ctl_ok(
            &[
                "revocation",
                "refresh",
                "--issuer-dir",
                &office.path("issuer"),
                "--list",
                scratch.to_str().unwrap(),
            ],
            "",
        )
        .unwrap();
    let v3 = std::fs::read(&scratch).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let foreign = RevocationListBuilder::new(99, now, now + 86_400)
        .sign(&IssuerKey::generate().unwrap())
        .unwrap();

    let in_force = |what: &str| {
        assert_eq!(office.list_version(), Some(2), "after the {what} file");
        let refused = office.authenticate("juki-01", "tanaka", PIN);
        assert_eq!(
            outcome(&refused),
            "revoked",
            "after the {what} file: {refused}"
        );
        let granted = office.authenticate("juki-02", "suzuki", PIN);
        assert_eq!(
            granted["result"], "granted",
            "after the {what} file: {granted}"
        );
    };
    in_force("good");
    for (what, bytes) in [
        ("torn", &v3[..v3.len() / 2]),
        ("torn by one byte", &v3[..v3.len() - 1]),
        ("older", &v1[..]),
        ("foreign-signed", &foreign[..]),
        ("empty", &[][..]),
    ] {
        // Written in place, not atomically: what a crash or a careless copy leaves.
        std::fs::write(&list, bytes).unwrap();
        std::thread::sleep(TWO_TICKS);
        in_force(what);
    }
    // The daemon was looking all along: the whole next version is taken at once.
    std::fs::write(&list, &v3).unwrap();
    let start = Instant::now();
    while office.list_version() != Some(3) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "version 3 never taken"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        outcome(&office.authenticate("juki-01", "tanaka", PIN)),
        "revoked"
    );
    assert_eq!(office.count("revocation_list_loaded"), 3);
    office.verify_audit();
}
