//! The daemon's two Unix sockets, in process: real sockets, bad input of every kind, slow
//! clients, a thousand connections at once, and callers of other uids.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use cardgate_sessiond::daemon;
use common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

struct Running {
    world: World,
    login: PathBuf,
    admin: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<daemon::Stopped>,
    _events: tokio::sync::mpsc::UnboundedSender<cardgate_reader::CardEvent>,
}

async fn start() -> Running {
    start_with(world_full(
        "request_timeout_ms = 300\nmax_connections = 16\n",
        "refuse",
        "",
    ))
    .await
}

async fn start_with(world: World) -> Running {
    let login = world.dir.join("login.sock");
    let admin = world.dir.join("admin.sock");
    let login_l = UnixListener::bind(&login).unwrap();
    let admin_l = UnixListener::bind(&admin).unwrap();
    std::fs::set_permissions(&admin, std::fs::Permissions::from_mode(0o660)).unwrap();
    std::fs::set_permissions(&login, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = world.engine.clone();
    let task = tokio::spawn(async move {
        daemon::run(engine, login_l, admin_l, events_rx, async {
            let _ = stopped.await;
        })
        .await
    });
    Running {
        world,
        login,
        admin,
        stop,
        task,
        _events: events_tx,
    }
}

async fn ask(path: &Path, request: &[u8]) -> Value {
    let mut s = UnixStream::connect(path).await.unwrap();
    // The server may answer (and close) before reading all of an oversized request.
    let _ = s.write_all(request).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "{e} after {:?}",
                String::from_utf8_lossy(&request[..request.len().min(40)])
            )
        });
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out)))
}

/// Sends one request from another process running as `nobody` (uid 65534), and returns what
/// it got back (or its error output).
async fn as_nobody(socket: &Path, request: &str) -> String {
    let (socket, request) = (socket.to_owned(), format!("{request}\n"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()); print(s.recv(4096).decode())")
            .arg(&socket)
            .arg(&request)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn result(v: &Value) -> &str {
    v["result"].as_str().unwrap_or("?")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_daemon_keeps_serving() {
    let r = start().await;
    let cases: Vec<(&[u8], &str)> = vec![
        (b"{not json\n", "malformed"),
        (b"[]\n", "malformed"),
        (br#"{"op":"format_disk"}"# as &[u8], "malformed"),
        (
            br#"{"op":"authenticate","terminal":"juki-01","user":"alice"}"#,
            "malformed",
        ),
        (b"\xff\xfe\n", "malformed"),
    ];
    for (request, expected) in cases {
        let v = ask(&r.login, &[request, b"\n"].concat()).await;
        assert_eq!(result(&v), "error", "{v}");
        assert!(v["message"].as_str().unwrap().contains(expected), "{v}");
    }
    // An escaped string would be decoded into serde_json's scratch buffer, which nobody
    // wipes: refused before parsing, PIN or not.
    let v = ask(
        &r.login,
        br#"{"op":"authenticate","terminal":"juki-01","user":"alice","pin":"Tanuki\u0034\u0032"}"#,
    )
    .await;
    assert!(v["message"].as_str().unwrap().contains("escapes"), "{v}");
    let huge = vec![b'x'; 10_000];
    let v = ask(&r.login, &huge).await;
    assert!(v["message"].as_str().unwrap().contains("exceeds"), "{v}");
    let v = ask(&r.admin, b"{\"op\":\"reboot\"}\n").await;
    assert_eq!(result(&v), "error");
    // Unknown terminal: a clear error, not a crash.
    let v = ask(
        &r.login,
        br#"{"op":"probe","terminal":"nowhere","user":"alice"}"#,
    )
    .await;
    assert!(
        v["message"].as_str().unwrap().contains("unknown terminal"),
        "{v}"
    );
    // Still serving.
    r.world
        .cards
        .insert(READER, card(&r.world.issuer, ALICE, "op-alice"));
    let v = ask(
        &r.login,
        br#"{"op":"probe","terminal":"juki-01","user":"alice"}"#,
    )
    .await;
    assert_eq!(result(&v), "ready", "{v}");
    let v = ask(
        &r.login,
        format!(r#"{{"op":"authenticate","terminal":"juki-01","user":"alice","pin":"{PIN}"}}"#)
            .as_bytes(),
    )
    .await;
    assert_eq!(result(&v), "granted", "{v}");
    r.stop.send(()).unwrap();
    assert_eq!(r.task.await.unwrap(), daemon::Stopped { unfinished: 0 });
    let outcome =
        cardgate_audit::verify_dir(&r.world.dir.join("audit"), None, &mut |_, _| {}).unwrap();
    assert!(outcome.is_intact(), "{:?}", outcome.problem);
    assert!(outcome.records > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_time_out_without_holding_up_others() {
    let r = start().await;
    // A client that connects and says nothing.
    let mut slow = UnixStream::connect(&r.login).await.unwrap();
    let v = ask(
        &r.login,
        br#"{"op":"close_session","user":"alice","session_id":"none"}"#,
    )
    .await;
    assert_eq!(result(&v), "error");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no complete request within"),
        "{v}"
    );
    r.stop.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_at_once_are_all_answered() {
    let r = start().await;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let path = r.login.clone();
        tasks.push(tokio::spawn(async move {
            let request = format!(r#"{{"op":"close_session","user":"alice","session_id":"s{i}"}}"#);
            ask(&path, request.as_bytes()).await
        }));
    }
    for t in tasks {
        let v = t.await.unwrap();
        assert_eq!(v["message"], "no such session");
    }
    r.stop.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_need_the_admin_group_and_are_attributed_to_the_uid() {
    let r = start().await;
    // The revocation is real: the signed list lists the card (ALICE) as lost.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&r.world.dir, &r.world.issuer, 2, &[ALICE], now + 86_400);
    let v = ask(
        &r.admin,
        br#"{"op":"card_revoked","serial":"A100000000000001","reason":"lost"}"#,
    )
    .await;
    assert_eq!(result(&v), "info", "{v}");
    let events = r.world.events();
    let revoked = events.iter().find_map(|e| match e {
        cardgate_audit::Event::CardRevoked { by, .. } => Some(by.as_str().to_owned()),
        _ => None,
    });
    assert_eq!(revoked.as_deref(), Some("uid 0 (root)"));

    // Another uid (nobody) is refused: here by the daemon itself, since the test opens the
    // socket's permissions to show that the daemon's own check holds.
    std::fs::set_permissions(&r.admin, std::fs::Permissions::from_mode(0o666)).unwrap();
    let text = as_nobody(&r.admin, r#"{"op":"status"}"#).await;
    assert!(
        text.contains("member of neither cardgate-admin nor cardgate-manager"),
        "{text}"
    );

    // On the login socket, nobody may not act for alice.
    let text = as_nobody(
        &r.login,
        r#"{"op":"probe","terminal":"juki-01","user":"alice"}"#,
    )
    .await;
    assert!(text.contains("only authenticate yourself"), "{text}");
    // Nor end a session, its own included: that would switch its removal lock off.
    let text = as_nobody(
        &r.login,
        r#"{"op":"close_session","user":"nobody","session_id":"c1"}"#,
    )
    .await;
    assert!(text.contains("login program only"), "{text}");
    r.stop.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_events_lock_the_session() {
    let r = start().await;
    r.world
        .cards
        .insert(READER, card(&r.world.issuer, ALICE, "op-alice"));
    let v = ask(
        &r.login,
        format!(r#"{{"op":"authenticate","terminal":"juki-01","user":"alice","pin":"{PIN}"}}"#)
            .as_bytes(),
    )
    .await;
    assert_eq!(result(&v), "granted", "{v}");
    let v = ask(
        &r.login,
        br#"{"op":"open_session","terminal":"juki-01","user":"alice","session_id":"c3"}"#,
    )
    .await;
    assert_eq!(result(&v), "granted", "{v}");
    r.world.cards.pull(READER);
    r._events
        .send(cardgate_reader::CardEvent::CardRemoved {
            reader: READER.into(),
        })
        .unwrap();
    for _ in 0..100 {
        if !r.world.actions.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        r.world.actions.0.lock().unwrap().as_slice(),
        ["lock-session c3"]
    );
    r.stop.send(()).unwrap();
}

/// A signed list of `revoked` (reason lost, now), version `version`, in hex.
fn list_hex(
    issuer: &cardgate_card::IssuerKey,
    version: u64,
    revoked: &[cardgate_card::cert::CardSerial],
) -> String {
    use cardgate_card::revocation::{Revocation, RevocationListBuilder, RevocationReason};
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut b = RevocationListBuilder::new(version, now - 10, now + 86_400);
    for s in revoked {
        b.revoke(
            *s,
            Revocation {
                revoked_at: now,
                reason: RevocationReason::Lost,
            },
        );
    }
    hex::encode(b.sign(issuer).unwrap())
}

/// `publish_revocation_list`: the daemon installs the access manager's list only when the
/// issuer signed it, it is newer than the one in force and drops nothing; then it marks the
/// register. Each refusal leaves the list in force untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_list_must_be_the_issuers_newer_and_drop_nothing() {
    let key_dir = temp_dir("publish-key");
    let key_path = key_dir.join("issuer.pub");
    let r = {
        let world = world_full(
            "request_timeout_ms = 300\n",
            "refuse",
            &format!("[issuer]\npublic_key = {:?}\n", key_path.to_str().unwrap()),
        );
        std::fs::write(&key_path, world.issuer.public_key().to_hex()).unwrap();
        start_with(world).await
    };
    let list_path = r.world.dir.join("revoked.crl");
    let publish = |hex: String| {
        let admin = r.admin.clone();
        async move {
            ask(
                &admin,
                format!("{{\"op\":\"publish_revocation_list\",\"list\":\"{hex}\"}}\n").as_bytes(),
            )
            .await
        }
    };
    // The register lends ALICE's card.
    cardgate_office::register::RegisterFile::new(&r.world.dir)
        .update(|reg| {
            reg.cards.insert(
                ALICE.to_string(),
                cardgate_office::register::CardEntry::lent(
                    "op-alice",
                    cardgate_card::Role::Operator,
                    0,
                    time::macros::date!(2099 - 03 - 31),
                ),
            );
        })
        .unwrap();
    let in_force = std::fs::read(&list_path).unwrap();
    let unchanged = |v: &Value, why: &str| {
        assert_eq!(result(v), "error", "{why}: {v}");
        assert!(v["message"].as_str().unwrap().contains(why), "{why}: {v}");
        assert_eq!(std::fs::read(&list_path).unwrap(), in_force, "{why}");
    };
    unchanged(&publish("zz".into()).await, "in hex");
    let stranger = cardgate_card::IssuerKey::generate().unwrap();
    unchanged(
        &publish(list_hex(&stranger, 2, &[ALICE])).await,
        "does not verify with the issuer key",
    );
    // Version 1 is in force.
    unchanged(
        &publish(list_hex(&r.world.issuer, 1, &[ALICE])).await,
        "is not newer than the one in force (1)",
    );

    let v = publish(list_hex(&r.world.issuer, 2, &[ALICE])).await;
    assert_eq!(v["data"]["revocation_list_version"], 2, "{v}");
    let reg = cardgate_office::register::RegisterFile::new(&r.world.dir)
        .read()
        .unwrap();
    assert!(
        matches!(
            reg.get(&ALICE).unwrap().state,
            cardgate_office::register::CardState::Revoked { .. }
        ),
        "{:?}",
        reg.get(&ALICE)
    );
    // A later list that no longer lists ALICE would un-revoke her card: refused.
    let in_force = std::fs::read(&list_path).unwrap();
    let v = publish(list_hex(&r.world.issuer, 3, &[BOB])).await;
    assert_eq!(result(&v), "error", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("no longer lists card {ALICE}")),
        "{v}"
    );
    assert_eq!(std::fs::read(&list_path).unwrap(), in_force);
    r.stop.send(()).unwrap();
}
