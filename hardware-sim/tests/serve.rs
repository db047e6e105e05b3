//! `cardgate-sim serve` against a fake vpcd reader (a TCP listener on 127.0.0.1:0 speaking
//! vpcd's framing): insertion, controls, APDUs, SIGTERM, removal after N APDUs, waiting for
//! the reader, and reconnecting when the reader goes away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardgate_sim::ATR;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cardgate-sim");
const WAIT: Duration = Duration::from_secs(20);

/// A served card process, killed on drop if a test fails half-way.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn card_file(dir: &Path) -> PathBuf {
    let path = dir.join("op.card");
    personalised().save(&path).unwrap();
    path
}

fn serve(card: &Path, port: u16, extra: &[&str]) -> Served {
    Served(
        Command::new(BIN)
            .args(["serve", "--card"])
            .arg(card)
            .args(["--vpcd", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(WAIT)).unwrap();
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && started.elapsed() < WAIT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the card never connected: {e}"),
        }
    }
}

fn send(stream: &mut TcpStream, payload: &[u8]) {
    let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).unwrap();
}

fn recv(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).unwrap();
    body
}

fn exchange(stream: &mut TcpStream, apdu: &[u8]) -> Vec<u8> {
    send(stream, apdu);
    recv(stream)
}

/// True once the peer has closed the connection (read returns 0 or fails).
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(0) | Err(_))
}

fn wait_exit(served: &mut Served) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = served.0.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < WAIT, "cardgate-sim did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn login(stream: &mut TcpStream) {
    let fci = exchange(stream, &select());
    assert_eq!(sw(&fci), [0x90, 0x00]);
    assert_eq!(
        exchange(stream, &verify(0x81, &wire(PIN))),
        vec![0x90, 0x00]
    );
    let r = exchange(stream, &internal_authenticate(&[3; 32]));
    assert_eq!((r.len(), sw(&r)), (66, [0x90, 0x00]));
}

#[test]
fn serves_controls_and_apdus_and_leaves_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let card = card_file(dir.path());
    let ready = dir.path().join("ready");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut served = serve(&card, port, &["--ready-file", ready.to_str().unwrap()]);
    let mut vpcd = accept(&listener);

    // What pcscd does: power on, get ATR (also its 400 ms presence poll), then APDUs.
    send(&mut vpcd, &[1]);
    assert_eq!(exchange(&mut vpcd, &[4]), ATR.to_vec());
    login(&mut vpcd);
    // Reset and power off end the session state; the ATR is answered at any time.
    send(&mut vpcd, &[2]);
    assert_eq!(
        exchange(&mut vpcd, &[0x00, 0x20, 0x00, 0x81]),
        vec![0x69, 0x85]
    );
    login(&mut vpcd);
    send(&mut vpcd, &[0]);
    assert_eq!(exchange(&mut vpcd, &[4]), ATR.to_vec());
    send(&mut vpcd, &[1]);
    exchange(&mut vpcd, &select());
    assert_eq!(
        exchange(&mut vpcd, &[0x00, 0x20, 0x00, 0x81]),
        vec![0x63, 0xC3]
    );
    // A wrong PIN over vpcd is persisted in the image at once.
    assert_eq!(
        exchange(&mut vpcd, &verify(0x81, &wire("Wrong999"))),
        vec![0x63, 0xC2]
    );
    assert_eq!(cardgate_sim::CardImage::load(&card).unwrap().pin_tries(), 2);
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "ready\n");

    let kill = Command::new("kill")
        .args(["-TERM", &served.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(
        closed(&mut vpcd),
        "SIGTERM must close the connection (card removed)"
    );
    let status = wait_exit(&mut served);
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    served
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "ready\n");
}

#[test]
fn removes_itself_after_n_apdus() {
    let dir = tempfile::tempdir().unwrap();
    let card = card_file(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut served = serve(&card, port, &["--remove-after-apdus", "2"]);
    let mut vpcd = accept(&listener);
    send(&mut vpcd, &[1]);
    // Controls do not count.
    assert_eq!(exchange(&mut vpcd, &[4]), ATR.to_vec());
    assert_eq!(exchange(&mut vpcd, &[4]), ATR.to_vec());
    assert_eq!(sw(&exchange(&mut vpcd, &select())), [0x90, 0x00]);
    assert_eq!(
        exchange(&mut vpcd, &verify(0x81, &wire(PIN))),
        vec![0x90, 0x00]
    );
    assert!(
        closed(&mut vpcd),
        "the card must leave right after the second answer"
    );
    assert_eq!(wait_exit(&mut served).code(), Some(0));
}

#[test]
fn waits_for_the_reader_and_reconnects_when_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let card = card_file(dir.path());
    // Find a free port, and start the card before anything listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut served = serve(&card, port, &["--connect-timeout", "20"]);
    std::thread::sleep(Duration::from_millis(300));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut vpcd = accept(&listener);
    send(&mut vpcd, &[1]);
    assert_eq!(exchange(&mut vpcd, &[4]), ATR.to_vec());
    exchange(&mut vpcd, &select());
    assert_eq!(
        exchange(&mut vpcd, &verify(0x81, &wire(PIN))),
        vec![0x90, 0x00]
    );
    // The reader goes away (pcscd restarted): the card is still "in the reader" and connects
    // again, with a fresh session.
    drop(vpcd);
    let mut vpcd = accept(&listener);
    send(&mut vpcd, &[1]);
    exchange(&mut vpcd, &select());
    assert_eq!(
        exchange(&mut vpcd, &[0x00, 0x20, 0x00, 0x81]),
        vec![0x63, 0xC3]
    );
    Command::new("kill")
        .args(["-TERM", &served.0.id().to_string()])
        .status()
        .unwrap();
    assert!(closed(&mut vpcd));
    assert_eq!(wait_exit(&mut served).code(), Some(0));
}

#[test]
fn gives_up_with_a_clear_error_when_no_reader_listens() {
    let dir = tempfile::tempdir().unwrap();
    let card = card_file(dir.path());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut served = serve(&card, port, &["--connect-timeout", "1"]);
    let status = wait_exit(&mut served);
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    served
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("did not accept a connection") && err.contains(&port.to_string()),
        "{err}"
    );
}
