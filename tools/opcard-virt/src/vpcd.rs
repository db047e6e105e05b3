// SPDX-License-Identifier: LGPL-3.0-only
//! The card's side of vsmartcard's vpcd protocol: each message is a 2-byte big-endian length
//! and its body; a 1-byte body is a control (0 power off, 1 power on, 2 reset, 4 the ATR),
//! anything longer an APDU, answered with its response.
//!
//! The `vpicc` crate speaks the same protocol, but its reads cannot be reached between the
//! length and the body, and that is where the immediate ACK must be re-armed: vpcd writes
//! the two separately, and the body waits for the ACK of the length (Nagle). With the kernel's
//! delayed ACK every message then waited about 40 ms, and a login on the virtual card took
//! close to a second. cardgate-sim does the same (`hardware-sim/src/vpcd.rs`).

use socket2::SockRef;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use vpicc::VSmartCard;

/// A connection to one vpcd reader slot.
pub struct Connection {
    stream: TcpStream,
}

impl Connection {
    /// Takes over `stream`, with `TCP_NODELAY` so that answers go out at once (a failure
    /// only slows the card down, and is said on stderr).
    pub fn new(stream: TcpStream) -> Self {
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("opcard-virt: cannot set TCP_NODELAY on the reader connection: {e}");
        }
        let connection = Connection { stream };
        connection.rearm_ack();
        connection
    }

    /// `TCP_QUICKACK` lasts until the kernel turns it off by itself: set again after every
    /// read.
    fn rearm_ack(&self) {
        if let Err(e) = SockRef::from(&self.stream).set_tcp_quickack(true) {
            eprintln!("opcard-virt: cannot set TCP_QUICKACK on the reader connection: {e}");
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.stream.read_exact(buf)?;
        self.rearm_ack();
        Ok(())
    }

    fn send(&mut self, body: &[u8]) -> io::Result<()> {
        let len = u16::try_from(body.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a response of {} bytes does not fit a vpcd message",
                    body.len()
                ),
            )
        })?;
        let mut frame = Vec::with_capacity(2 + body.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(body);
        self.stream.write_all(&frame)
    }

    /// Reads one message and has `card` handle it.
    ///
    /// # Errors
    /// The connection's, or an empty message or an unknown control (the reader is then
    /// taken to be gone, as `vpicc` does).
    pub fn poll(&mut self, card: &mut impl VSmartCard) -> io::Result<()> {
        let mut len = [0u8; 2];
        self.read_exact(&mut len)?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.read_exact(&mut body)?;
        match body.as_slice() {
            [] => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "received an empty message",
            )),
            [0] => {
                card.power_off();
                Ok(())
            }
            [1] => {
                card.power_on();
                Ok(())
            }
            [2] => {
                card.reset();
                Ok(())
            }
            [4] => {
                let atr = card.atr().to_vec();
                self.send(&atr)
            }
            [other] => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unsupported control command {other}"),
            )),
            apdu => {
                let response = card.execute(apdu);
                self.send(&response)
            }
        }
    }
}
