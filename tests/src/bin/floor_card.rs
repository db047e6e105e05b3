//! The floor card: the least a vpcd virtual card can do. It answers every APDU with `9000`
//! and the ATR request with a fixed ATR, sets `TCP_QUICKACK` after each read and
//! `TCP_NODELAY`, and writes each answer in one `write`. It measures the pcscd + vpcd path
//! itself; the benchmark compares real cards against it.
//!
//! Usage: `cardgate-floor-card HOST:PORT` (connects once; exits when vpcd disconnects).
#![forbid(unsafe_code)]

use socket2::SockRef;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `3B 02 14 50`: T=0, two historical bytes; no TCK needed.
const ATR: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];

fn main() -> ExitCode {
    let Some(address) = std::env::args().nth(1) else {
        eprintln!("usage: cardgate-floor-card HOST:PORT");
        return ExitCode::from(2);
    };
    match serve(&address) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cardgate-floor-card: {e}");
            ExitCode::FAILURE
        }
    }
}

fn connect(address: &str) -> std::io::Result<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(address) {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve(address: &str) -> std::io::Result<()> {
    let mut stream = connect(address)?;
    stream.set_nodelay(true)?;
    let mut message = [0u8; 65536];
    loop {
        let mut prefix = [0u8; 2];
        if stream.read_exact(&mut prefix).is_err() {
            return Ok(());
        }
        // vpcd sends the prefix and the APDU in two writes and, with Nagle, holds the second
        // until the first is ACKed: ACK at once (the kernel drops quick-ACK mode by itself).
        let _ = SockRef::from(&stream).set_tcp_quickack(true);
        let len = usize::from(u16::from_be_bytes(prefix));
        let body = message
            .get_mut(..len)
            .ok_or(std::io::ErrorKind::InvalidData)?;
        stream.read_exact(body)?;
        let _ = SockRef::from(&stream).set_tcp_quickack(true);
        let answer: &[u8] = match body {
            [4] => &ATR,
            [_] => continue,
            _ => &[0x90, 0x00],
        };
        let mut out = Vec::with_capacity(answer.len() + 2);
        out.extend_from_slice(&u16::try_from(answer.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(answer);
        stream.write_all(&out)?;
    }
}
