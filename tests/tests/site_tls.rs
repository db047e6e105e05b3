//! RELP over TLS, as docs/integration.md recommends where the LAN is not trusted (issue 13,
//! item 1): the shipped configurations with `tls="on"`, each end's certificate from one CA
//! and each end naming the peers it accepts; records arrive byte for byte, and a sender
//! without a certificate is not heard at all.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::site::Site;
use std::time::{Duration, Instant};

#[test]
fn records_travel_over_tls_and_a_sender_without_a_certificate_is_not_heard() {
    let site = Site::start_with_tls(&["juki-s1", "juki-s2"], "").unwrap();
    for t in &site.terminals {
        t.login_and_out("t1").unwrap();
    }
    site.wait_all_shipped();
    for t in &site.terminals {
        assert_eq!(site.collector.lines(&t.host), t.local_lines(), "{}", t.host);
    }
    // The plain shipped configuration (no TLS) from juki-s2, claiming its own name: the
    // collector's TLS listener does not take it, so nothing of it is written anywhere.
    let liar = &site.terminals[1];
    let planted = r#"{"seq":0,"planted":"without a certificate"}"#;
    let forger = liar.forge_as(&liar.host, &[planted]).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        assert!(!site.collector.forged().contains(planted));
        assert!(!site
            .collector
            .lines(&liar.host)
            .iter()
            .any(|l| l == planted));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(forger);
    // The terminals' own records still arrive.
    liar.login_and_out("t2").unwrap();
    site.wait_all_shipped();
    assert!(!site
        .collector
        .lines(&liar.host)
        .iter()
        .any(|l| l == planted));
}
