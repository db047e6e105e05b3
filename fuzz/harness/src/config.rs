//! The daemon's configuration file, `cardgated.toml`.
//!
//! Input: the file's bytes (not UTF-8 is read lossily, as an editor would show it), capped
//! at the daemon's 256 KiB limit. Invariants checked on an accepted configuration: at least
//! one terminal, no terminal ID or reader twice, every path absolute and not a network
//! address, every limit within the checked range.

use crate::class;
use cardgate_office::config::{Config, MAX_CONFIG_BYTES};

/// Tokens for mutators: sections and keys.
pub const DICTIONARY: &[&[u8]] = &[
    b"[daemon]\n",
    b"[issuer]\n",
    b"[revocation]\n",
    b"[audit]\n",
    b"[session]\n",
    b"[rate_limit]\n",
    b"[business_hours]\n",
    b"[[terminal]]\n",
    b"[operators]\n",
    b"login_socket = ",
    b"admin_socket = ",
    b"state_dir = ",
    b"max_request_bytes = ",
    b"utc_offset_minutes = ",
    b"on_removal = \"lock\"\n",
    b"stale = \"warn\"\n",
    b"days = [\"mon\", \"sat\"]\n",
    b"start = \"08:30\"\n",
    b"end = \"17:15\"\n",
    b"id = \"juki-01\"\n",
    b"reader = \"Virtual PCD 00 00\"\n",
    b"\"op-0042\" = \"tanaka\"\n",
    b"\"/run/x.sock\"",
    b"\"127.0.0.1:9\"",
    b"\"tcp://h:1\"",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"1e400",
    b"'''",
    b"\"\"\"",
    b"{ a = 1 }",
];

fn check(config: &Config) {
    assert!(!config.terminals.is_empty(), "accepted without a terminal");
    let mut ids = std::collections::BTreeSet::new();
    let mut readers = std::collections::BTreeSet::new();
    for t in &config.terminals {
        assert!(
            ids.insert(&t.id) && readers.insert(&t.reader),
            "a terminal twice"
        );
    }
    for p in [
        &config.daemon.login_socket,
        &config.daemon.admin_socket,
        &config.daemon.state_dir,
        &config.issuer.public_key,
        &config.revocation.list,
        &config.audit.dir,
        &config.session.loginctl,
    ] {
        assert!(p.is_absolute(), "relative path accepted: {}", p.display());
        assert!(
            p.to_string_lossy().parse::<std::net::SocketAddr>().is_err(),
            "network address accepted"
        );
    }
    assert!((64..=65_536).contains(&config.daemon.max_request_bytes));
    assert!(config.daemon.request_timeout_ms > 0 && config.daemon.max_connections > 0);
    assert!((-720..=840).contains(&config.daemon.utc_offset_minutes));
    assert!(config.rate_limit.base_delay_ms <= config.rate_limit.max_delay_ms);
    assert!(config.audit.seal_every_records > 0 && config.audit.seal_every_seconds > 0);
    for t in &config.terminals {
        assert_eq!(config.terminal(&t.id).map(|x| &x.reader), Some(&t.reader));
    }
}

/// One configuration file; returns its outcome class.
pub fn run(data: &[u8]) -> u64 {
    if data.len() as u64 > MAX_CONFIG_BYTES {
        return 0;
    }
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text) {
        Ok(config) => {
            check(&config);
            let _ = format!("{config:?}");
            class::mix(&[1, config.terminals.len().min(4) as u64])
        }
        Err(e) => class::of_debug(&format!("{e:?}").chars().take(20).collect::<String>()),
    }
}
