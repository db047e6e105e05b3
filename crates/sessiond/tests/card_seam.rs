//! The daemon reaches cards through the reader crate's one transaction seam: every
//! operation, granted or refused, ends with the operator-card application re-selected, so no
//! verified PIN outlives it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use cardgate_card::commands::ins;
use cardgate_card::StatusWord;
use cardgate_protocol::Answer;
use common::*;

fn ends_with_the_reselect(w: &World) {
    let exchanges = w.cards.transcript.exchanges();
    let last = exchanges.last().expect("no APDU was sent");
    let select = cardgate_card::commands::select_command()
        .unwrap()
        .to_bytes();
    assert_eq!(&last.command[..], &select[..]);
    assert_eq!(last.status(), Some(StatusWord::Success));
    assert!(
        !w.cards.pin_verified(READER),
        "a verified PIN outlived the operation"
    );
}

#[test]
fn a_granted_login_ends_with_the_application_reselected() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let a = w.auth("alice", PIN);
    assert!(matches!(a, Answer::Granted { .. }), "{a:?}");
    assert!(w.cards.transcript.contains_ins(ins::VERIFY));
    ends_with_the_reselect(&w);
}

#[test]
fn a_refused_login_ends_with_the_application_reselected() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let a = w.auth("alice", "Wrong999");
    assert!(matches!(a, Answer::Denied { .. }), "{a:?}");
    ends_with_the_reselect(&w);
}
