#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;

const S1: Serial = Serial([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);

fn login_requests() -> Vec<LoginRequest> {
    vec![
        LoginRequest::Probe {
            terminal: "juki-01".into(),
            user: "tanaka".into(),
        },
        LoginRequest::Authenticate {
            terminal: "juki-01".into(),
            user: "tanaka".into(),
            pin: PinField::copy_from("Tanuki42"),
        },
        LoginRequest::ChangePin {
            terminal: "t".into(),
            user: "u".into(),
            old: PinField::copy_from("Old\"1\\"),
            new: PinField::copy_from("New2\u{1}"),
        },
        LoginRequest::OpenSession {
            terminal: "t".into(),
            user: "u".into(),
            session_id: "c7".into(),
        },
        LoginRequest::CloseSession {
            user: "u".into(),
            session_id: "c7".into(),
        },
    ]
}

fn admin_requests() -> Vec<AdminRequest> {
    let mut all = vec![
        AdminRequest::Status,
        AdminRequest::Sessions,
        AdminRequest::CardIssued {
            serial: S1,
            operator: "op-1".into(),
            role: Role::Manager,
            reader: "r 0".into(),
            manager: Some(S1),
            manager_reader: Some("r 1".into()),
        },
        AdminRequest::CardIssued {
            serial: S1,
            operator: "op-1".into(),
            role: Role::Operator,
            reader: "r 0".into(),
            manager: None,
            manager_reader: None,
        },
        AdminRequest::PinUnblocked {
            serial: S1,
            reader: "r".into(),
            manager: Some(S1),
            manager_reader: Some("m".into()),
        },
        AdminRequest::CardReturned { serial: S1 },
        AdminRequest::PukRejected {
            serial: None,
            reader: "r".into(),
            tries_left: 0,
        },
        AdminRequest::PukBlocked {
            serial: Some(S1),
            reader: "r".into(),
        },
        AdminRequest::PublishRevocationList {
            list: "00ff".into(),
        },
    ];
    all.extend(
        RevocationReason::ALL
            .iter()
            .map(|&reason| AdminRequest::CardRevoked { serial: S1, reason }),
    );
    all.extend(NoteKind::ALL.iter().map(|&kind| AdminRequest::Note {
        kind,
        text: "鍵を返却".into(),
        who: Some("佐藤".into()),
        escort: None,
    }));
    all.extend(
        ManagerRefusal::ALL
            .iter()
            .map(|&reason| AdminRequest::ManagerRefused {
                serial: Some(S1),
                reader: "r".into(),
                reason,
                tries_left: Some(1),
            }),
    );
    all
}

fn answers() -> Vec<Answer> {
    let mut all = vec![
        Answer::Ready {
            operator: "op-1".into(),
            serial: S1,
        },
        Answer::Granted {
            operator: "op-1".into(),
            serial: S1,
            must_change_pin: true,
        },
        Answer::Denied {
            code: DenyCode::WrongPin,
            tries_left: Some(2),
            message: "wrong PIN".into(),
        },
        Answer::error("no such terminal"),
        Answer::recorded(42),
        Answer::Info {
            data: Info::Status(Status {
                revocation_list_version: None,
                sessions: 0,
                terminals: vec![],
            }),
        },
        Answer::Info {
            data: Info::Status(Status {
                revocation_list_version: Some(7),
                sessions: 1,
                terminals: vec![TerminalInfo {
                    id: "juki-01".into(),
                    reader: "Virtual PCD 00 00".into(),
                }],
            }),
        },
        Answer::Info {
            data: Info::Sessions(vec![]),
        },
        Answer::Info {
            data: Info::Sessions(vec![SessionInfo {
                session_id: "c7".into(),
                terminal: "juki-01".into(),
                reader: "r".into(),
                user: "tanaka".into(),
                operator_id: "op-1".into(),
                serial: S1.to_string(),
                opened_at: 1_700_000_000,
                verified_at: 1_700_000_100,
                state: SessionState::Ending,
                end_reason: Some(EndReason::CardRemoved),
                boot_id: "b".into(),
            }]),
        },
    ];
    all.extend(DenyCode::ALL.iter().map(|&c| Answer::denied(c, "m")));
    all
}

#[test]
fn every_request_round_trips() {
    for r in login_requests() {
        let line = encode_request(&r).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        // Measured, then reserved at exactly its size: never grown.
        assert_eq!(line.capacity(), line.len(), "{r:?}");
        let back: LoginRequest = parse_request(&line[..line.len() - 1], 4096).unwrap();
        assert_eq!(back, r);
    }
    for r in admin_requests() {
        let line = encode_request(&r).unwrap();
        let back: AdminRequest = parse_request(&line, 4096).unwrap();
        assert_eq!(back, r);
    }
}

#[test]
fn every_answer_round_trips() {
    for a in answers() {
        let line = encode_answer(&a).unwrap();
        assert_eq!(
            parse_answer(&line, MAX_ANSWER_BYTES).unwrap(),
            a,
            "{}",
            String::from_utf8_lossy(&line)
        );
    }
}

#[test]
fn the_wire_bytes_are_todays() {
    let line = |r: &LoginRequest| String::from_utf8(encode_request(r).unwrap().to_vec()).unwrap();
    let all = login_requests();
    assert_eq!(
        line(&all[0]),
        "{\"op\":\"probe\",\"terminal\":\"juki-01\",\"user\":\"tanaka\"}\n"
    );
    assert_eq!(
        line(&all[1]),
        "{\"op\":\"authenticate\",\"terminal\":\"juki-01\",\"user\":\"tanaka\",\"pin\":\"Tanuki42\"}\n"
    );
    assert_eq!(
        line(&all[4]),
        "{\"op\":\"close_session\",\"user\":\"u\",\"session_id\":\"c7\"}\n"
    );
    let admin = |r: &AdminRequest| String::from_utf8(encode_request(r).unwrap().to_vec()).unwrap();
    assert_eq!(admin(&AdminRequest::Status), "{\"op\":\"status\"}\n");
    assert_eq!(
        admin(&AdminRequest::CardRevoked {
            serial: S1,
            reason: RevocationReason::Transferred
        }),
        "{\"op\":\"card_revoked\",\"serial\":\"0123456789ABCDEF\",\"reason\":\"transferred\"}\n"
    );
    assert_eq!(
        admin(&AdminRequest::Note {
            kind: NoteKind::RoomEntry,
            text: "x".into(),
            who: None,
            escort: Some("e".into())
        }),
        "{\"op\":\"note\",\"kind\":\"room-entry\",\"text\":\"x\",\"escort\":\"e\"}\n"
    );
    let answer = |a: &Answer| String::from_utf8(encode_answer(a).unwrap()).unwrap();
    assert_eq!(
        answer(&Answer::Denied {
            code: DenyCode::WrongPin,
            tries_left: Some(2),
            message: "wrong PIN".into(),
        }),
        "{\"result\":\"denied\",\"reason\":\"wrong_pin\",\"tries_left\":2,\"message\":\"wrong PIN\"}\n"
    );
    assert_eq!(
        answer(&Answer::denied(DenyCode::OutsideBusinessHours, "closed")),
        "{\"result\":\"denied\",\"reason\":\"outside_business_hours\",\"message\":\"closed\"}\n"
    );
    assert_eq!(
        answer(&Answer::Granted {
            operator: "op-1".into(),
            serial: S1,
            must_change_pin: false
        }),
        "{\"result\":\"granted\",\"operator\":\"op-1\",\"serial\":\"0123456789ABCDEF\",\"must_change_pin\":false}\n"
    );
    assert_eq!(
        answer(&Answer::recorded(5)),
        "{\"result\":\"info\",\"data\":{\"recorded\":5}}\n"
    );
    assert_eq!(
        answer(&answers()[6]),
        "{\"result\":\"info\",\"data\":{\"revocation_list_version\":7,\"sessions\":1,\"terminals\":[{\"id\":\"juki-01\",\"reader\":\"Virtual PCD 00 00\"}]}}\n"
    );
    assert_eq!(
        answer(&answers()[5]),
        "{\"result\":\"info\",\"data\":{\"revocation_list_version\":null,\"sessions\":0,\"terminals\":[]}}\n"
    );
    assert_eq!(
        answer(&answers()[8]),
        "{\"result\":\"info\",\"data\":[{\"session_id\":\"c7\",\"terminal\":\"juki-01\",\"reader\":\"r\",\"user\":\"tanaka\",\"operator_id\":\"op-1\",\"serial\":\"0123456789ABCDEF\",\"opened_at\":1700000000,\"verified_at\":1700000100,\"state\":\"ending\",\"end_reason\":\"card_removed\",\"boot_id\":\"b\"}]}\n"
    );
}

#[test]
fn a_pin_is_redacted_and_serialises_only_through_encode_request() {
    for r in login_requests() {
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("Tanuki42") && !shown.contains("Old") && !shown.contains("New2"),
            "{shown}"
        );
    }
    let auth = &login_requests()[1];
    assert!(format!("{auth:?}").contains("REDACTED"));
    // Any serialiser other than encode_request would leave the PIN in an unwiped buffer.
    let err = serde_json::to_string(auth).unwrap_err();
    assert!(!err.to_string().contains("Tanuki42"));
    assert!(serde_json::to_vec(&PinField::copy_from("1234")).is_err());
    // ... and encode_request does not leave the door open behind it.
    encode_request(auth).unwrap();
    assert!(serde_json::to_string(auth).is_err());
    // Requests without a PIN serialise anywhere.
    assert!(serde_json::to_string(&login_requests()[0]).is_ok());
}

#[test]
fn the_pin_is_read_once_into_the_field() {
    let r: LoginRequest = parse_request(
        br#"{"op":"authenticate","terminal":"juki-01","user":"tanaka","pin":"Tanuki42"}"#,
        4096,
    )
    .unwrap();
    match r {
        LoginRequest::Authenticate { mut pin, .. } => {
            assert_eq!(pin.expose(), "Tanuki42");
            assert_eq!(pin.take(), "Tanuki42");
            assert_eq!(pin.expose(), "");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_requests_are_typed_errors() {
    let too_big = vec![b' '; 5000];
    assert!(matches!(
        parse_request::<LoginRequest>(&too_big, 4096),
        Err(RequestError::TooLarge { limit: 4096 })
    ));
    for bad in [
        &b"{"[..],
        b"[]",
        br#"{"op":"format_disk"}"#,
        br#"{"op":"probe","terminal":"t","user":"u","x":1}"#,
        br#"{"op":"authenticate","terminal":"t","user":"u","pin":7}"#,
        b"\xff\xfe",
    ] {
        assert!(
            matches!(
                parse_request::<LoginRequest>(bad, 4096),
                Err(RequestError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    for bad in [
        &br#"{"op":"card_returned","serial":"0123"}"#[..],
        br#"{"op":"card_returned","serial":"0123456789abcdeg"}"#,
        br#"{"op":"card_returned","serial":"+123456789abcdef"}"#,
        br#"{"op":"card_returned","serial":7}"#,
        br#"{"op":"card_revoked","serial":"0123456789abcdef","reason":"bored"}"#,
        br#"{"op":"card_issued","serial":"0123456789abcdef","operator":"o","role":"admin","reader":"r"}"#,
        br#"{"op":"note","kind":"room_entry","text":"t"}"#,
        br#"{"op":"manager_refused","reader":"r","reason":"revoked"}"#,
        br#"{"op":"puk_rejected","reader":"r","tries_left":256}"#,
    ] {
        assert!(
            matches!(
                parse_request::<AdminRequest>(bad, 4096),
                Err(RequestError::Malformed(_))
            ),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // The error sent back never carries the PIN.
    let err = parse_request::<LoginRequest>(
        br#"{"op":"authenticate","terminal":"t","user":"u","pin":"Tanuki42","extra":true}"#,
        4096,
    )
    .unwrap_err();
    assert!(!err.to_string().contains("Tanuki42"));
    assert!(!err.describe().contains("Tanuki42"), "{}", err.describe());
    // Serials are read in either case, as the daemon always has, and written in capitals.
    let upper: AdminRequest = parse_request(
        br#"{"op":"card_returned","serial":"0123456789abcdef"}"#,
        4096,
    )
    .unwrap();
    assert_eq!(upper, AdminRequest::CardReturned { serial: S1 });
    assert_eq!(
        "0123".parse::<Serial>().unwrap_err().to_string(),
        "card serial \"0123\" is not 16 hex digits"
    );
    assert_eq!(
        "bored".parse::<RevocationReason>().unwrap_err().to_string(),
        "unknown revocation reason \"bored\""
    );
}

#[test]
fn bad_answers_are_typed_errors_and_fail_closed() {
    assert!(matches!(
        parse_answer(b"", MAX_ANSWER_BYTES),
        Err(AnswerError::Empty)
    ));
    assert!(matches!(
        parse_answer(b"\n", MAX_ANSWER_BYTES),
        Err(AnswerError::Empty)
    ));
    assert!(matches!(
        parse_answer(&vec![b' '; MAX_ANSWER_BYTES + 1], MAX_ANSWER_BYTES),
        Err(AnswerError::TooLarge { .. })
    ));
    for bad in [
        &b"hello"[..],
        b"{\"result\":\"granted\"}",
        b"{\"result\":\"welcome\",\"operator\":\"x\"}",
        b"{\"result\":\"denied\",\"reason\":\"wrong_pin\",\"tries_left\":300}",
        // A code this client does not know is not understood, never taken for a grant.
        b"{\"result\":\"denied\",\"reason\":\"brand_new\",\"message\":\"m\"}",
        b"{\"result\":\"granted\",\"operator\":\"o\",\"serial\":\"00\"}",
        b"{\"result\":\"info\",\"data\":{\"what\":1}}",
        b"\xff",
    ] {
        assert!(
            matches!(
                parse_answer(bad, MAX_ANSWER_BYTES),
                Err(AnswerError::Malformed(_))
            ),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let unknown = parse_answer(
        b"{\"result\":\"denied\",\"reason\":\"brand_new\"}",
        MAX_ANSWER_BYTES,
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("brand_new"), "{unknown}");
    // Only the first line counts.
    assert_eq!(
        parse_answer(
            b"{\"result\":\"error\",\"message\":\"m\"}\n{\"result\":\"granted\"}",
            MAX_ANSWER_BYTES
        )
        .unwrap(),
        Answer::error("m")
    );
}

#[test]
fn the_codes_are_the_daemons_strings() {
    // The strings the daemon has sent and crates/pam matched, before the enum.
    let today = [
        "wrong_pin",
        "pin_blocked",
        "malformed_pin",
        "revoked",
        "returned",
        "expired",
        "not_yet_valid",
        "unknown_issuer",
        "bad_certificate",
        "not_operator_card",
        "card_authentication_failed",
        "wrong_user",
        "other_card",
        "outside_business_hours",
        "no_card",
        "card_removed",
        "rate_limited",
        "pin_policy",
        "must_change_pin",
        "audit_unavailable",
        "revocation_list_stale",
        "revocation_list_unavailable",
        "register_unavailable",
        "reader_unavailable",
        "card_error",
        "internal",
        "not_authenticated",
        "bad_session_id",
    ];
    assert_eq!(DenyCode::ALL.len(), today.len());
    for (code, wire) in DenyCode::ALL.iter().zip(today) {
        assert_eq!(code.as_str(), wire);
        assert_eq!(serde_json::to_string(code).unwrap(), format!("\"{wire}\""));
    }
    for state in [
        SessionState::Active,
        SessionState::Locked,
        SessionState::Ending,
    ] {
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            format!("\"{}\"", state.as_str())
        );
    }
    let roles: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(roles, ["operator", "manager"]);
}

proptest! {
    #[test]
    fn every_deny_code_round_trips(i in 0..DenyCode::ALL.len(), tries in proptest::option::of(any::<u8>()), message in ".{0,40}") {
        let code = DenyCode::ALL[i];
        prop_assert_eq!(code.as_str().parse::<DenyCode>().unwrap(), code);
        let a = Answer::Denied { code, tries_left: tries, message };
        prop_assert_eq!(parse_answer(&encode_answer(&a).unwrap(), MAX_ANSWER_BYTES).unwrap(), a);
    }

    #[test]
    fn every_serial_round_trips(bytes in any::<[u8; 8]>()) {
        let s = Serial(bytes);
        let text = s.to_string();
        prop_assert_eq!(text.len(), 16);
        prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        prop_assert_eq!(text.parse::<Serial>().unwrap(), s);
    }

    #[test]
    fn no_line_makes_the_parsers_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_answer(&bytes, MAX_ANSWER_BYTES);
        let _ = parse_request::<LoginRequest>(&bytes, 4096);
        let _ = parse_request::<AdminRequest>(&bytes, 4096);
    }
}
