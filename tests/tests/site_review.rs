//! The review across terminals on the collector (issue 13, items 4 and 6): one operator
//! logged in on two terminals at once, with a card in each, and one card (its serial) in
//! sessions on two terminals at once, seen only when the terminals' logs are reviewed
//! together: the real `cardgatectl audit report --collected` over what the site's real
//! rsyslogd collector received.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{PIN, USER};
use cardgate_tests::site::Site;
use serde_json::Value;
use std::collections::BTreeSet;

/// The pairs of terminals (sorted) the review's findings of `kind` name.
fn pairs(review: &Value, kind: &str) -> BTreeSet<(String, String)> {
    review["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| {
            let a = f["terminal"].as_str().unwrap().to_owned();
            let b = f["detail"]["other_terminal"].as_str().unwrap().to_owned();
            assert_eq!(f["operator"], "op-0042", "{f:#}");
            if a < b {
                (a, b)
            } else {
                (b, a)
            }
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[test]
fn one_operator_or_one_card_on_two_terminals_at_once_is_a_finding_of_the_collectors_review() {
    // op-0042 on v1, v2 and v3; v2's card is a second one (another serial), v3's has v1's
    // serial (a copy); op-0043 on v4 alone.
    let mut site = Site::start_with(
        &[
            ("juki-v1", "op-0042"),
            ("juki-v2", "op-0042"),
            ("juki-v3", "op-0042"),
            ("juki-v4", "op-0043"),
        ],
        "",
    )
    .unwrap();
    site.terminals[1].replace_card(*b"SECOND01").unwrap();
    // All four logged in at once, then out.
    for t in &site.terminals {
        t.office.login(&t.host, USER, PIN, "c1").unwrap();
    }
    for t in &site.terminals {
        t.logout("c1").unwrap();
    }
    site.wait_all_shipped();
    // Each terminal's own review sees nothing of it.
    for t in &site.terminals {
        let out = t
            .office
            .ctl_ok(
                &[
                    "audit",
                    "report",
                    "--dir",
                    &t.office.path("audit"),
                    "--format",
                    "json",
                ],
                "",
            )
            .unwrap();
        let alone: Value = serde_json::from_str(&out).unwrap();
        assert!(
            pairs(&alone, "operator_on_two_terminals").is_empty()
                && pairs(&alone, "card_on_two_terminals").is_empty(),
            "{}: {}",
            t.host,
            alone["findings"]
        );
    }
    // The collector's review of all four at once does.
    let (code, review) = site.review().unwrap();
    assert_eq!(code, Some(0), "{}", review["logs"]);
    assert_eq!(review["verification"], "intact", "{}", review["logs"]);
    assert_eq!(review["logs"].as_array().unwrap().len(), 4);
    // v2's login met v1's session (two cards of one operator); v3's met v1's and v2's, and
    // the review names its worse meeting: v1's session with the same card.
    let operator = pairs(&review, "operator_on_two_terminals");
    let card = pairs(&review, "card_on_two_terminals");
    assert!(
        operator.contains(&pair("juki-v1", "juki-v2")),
        "{}",
        review["findings"]
    );
    assert_eq!(
        card,
        [pair("juki-v1", "juki-v3")].into_iter().collect(),
        "{}",
        review["findings"]
    );
    // op-0043, alone on v4, is in no such finding (`pairs` checks each names op-0042).
    assert!(operator
        .iter()
        .chain(&card)
        .all(|(a, b)| a != "juki-v4" && b != "juki-v4"));
}
