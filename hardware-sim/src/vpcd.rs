//! The software card as a virtual card for vsmartcard's `vpcd` reader driver.
//!
//! `pcscd`'s vpcd reader listens on TCP (port 35963 + slot); the card connects to it as a
//! client. Connecting is inserting the card, disconnecting is removing it. Every message has
//! a 2-byte big-endian length prefix; a 1-byte message is a control (`0` power off, `1` power
//! on, `2` reset, `4` get ATR, answered with the ATR), anything longer is an APDU, answered
//! with the response. Power on, power off and reset get no answer.
//!
//! Latency: vpcd writes the length and the APDU in two `send()` calls. With Nagle on its side
//! and delayed ACKs on ours, every APDU would wait ~40 ms for an ACK; so the card sets
//! `TCP_QUICKACK` after every read (the kernel clears it again on its own) and `TCP_NODELAY`,
//! and writes each answer, prefix included, in one `write`.
//!
//! If the reader closes the connection (pcscd stopped), the card stays "in the reader": it
//! reconnects, as a physical card would be seen again when pcscd comes back, within the
//! connect timeout.

use crate::card::{SoftCard, ATR};
use socket2::SockRef;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Control message: power off.
pub const CTRL_POWER_OFF: u8 = 0;
/// Control message: power on.
pub const CTRL_POWER_ON: u8 = 1;
/// Control message: reset.
pub const CTRL_RESET: u8 = 2;
/// Control message: get ATR.
pub const CTRL_GET_ATR: u8 = 4;

/// How often a refused connection is retried.
const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// The longest one connection attempt may block.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// How to serve the card.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The vpcd reader's `HOST:PORT`.
    pub vpcd: String,
    /// How long to keep retrying while the reader is not listening (at start and after the
    /// reader closed the connection).
    pub connect_timeout: Duration,
    /// Disconnect (remove the card) right after answering this many APDUs; `Some(0)` removes
    /// the card as soon as it is inserted. Control messages do not count.
    pub remove_after_apdus: Option<u64>,
    /// Written (`ready\n`) each time the card is connected, i.e. inserted.
    pub ready_file: Option<PathBuf>,
    /// Print `ready` on standard output each time the card is connected.
    pub announce_ready: bool,
}

impl ServeOptions {
    /// Defaults: 30 s connect timeout, no removal, no ready file, no announcement.
    pub fn new(vpcd: impl Into<String>) -> Self {
        ServeOptions {
            vpcd: vpcd.into(),
            connect_timeout: Duration::from_secs(30),
            remove_after_apdus: None,
            ready_file: None,
            announce_ready: false,
        }
    }
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// `HOST:PORT` did not resolve.
    #[error("cannot resolve the vpcd address {addr}")]
    Resolve {
        /// The address given.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The reader did not accept a connection in time.
    #[error("vpcd at {addr} did not accept a connection within {waited:?} (is pcscd running with a vpcd reader on that port?)")]
    Connect {
        /// The address given.
        addr: String,
        /// How long we tried.
        waited: Duration,
        /// The last connection error.
        #[source]
        source: io::Error,
    },
    /// The ready file could not be written.
    #[error("cannot write the ready file {path}")]
    ReadyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// How serving ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServeEnd {
    /// [`StopHandle::stop`] was called (SIGTERM): the card was removed.
    Stopped,
    /// The card removed itself after `--remove-after-apdus` APDUs.
    RemovedAfterApdus,
}

/// Stops a running [`serve`] from another thread (the signal thread): sets the flag and shuts
/// the connection down, which wakes the blocked read at once.
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    stopped: Arc<AtomicBool>,
    stream: Arc<Mutex<Option<TcpStream>>>,
}

impl StopHandle {
    /// A handle not yet stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the server to stop; the card is removed (the connection closed).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(stream) = self.lock().as_ref() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<TcpStream>> {
        self.stream.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the live connection; false if a stop came first.
    fn attach(&self, stream: &TcpStream) -> bool {
        let mut slot = self.lock();
        *slot = stream.try_clone().ok();
        // Checked under the lock, so a concurrent stop() either sees the stream or we see it.
        !self.is_stopped()
    }

    fn detach(&self) {
        *self.lock() = None;
    }
}

enum SessionEnd {
    Removed,
    ReaderClosed,
}

/// Serves `card` to the vpcd reader until stopped, removed after N APDUs, or the reader stays
/// away longer than the connect timeout.
pub fn serve(
    card: &mut SoftCard,
    options: &ServeOptions,
    stop: &StopHandle,
) -> Result<ServeEnd, ServeError> {
    let mut apdus = 0u64;
    loop {
        let Some(stream) = connect(options, stop)? else {
            return Ok(ServeEnd::Stopped);
        };
        card.power_off();
        if !stop.attach(&stream) {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(ServeEnd::Stopped);
        }
        announce(options)?;
        let end = session(card, stream, options.remove_after_apdus, &mut apdus);
        stop.detach();
        card.power_off();
        if let Some(e) = card.take_storage_error() {
            eprintln!("cardgate-sim: could not persist the card state: {e}");
        }
        match end {
            _ if stop.is_stopped() => return Ok(ServeEnd::Stopped),
            SessionEnd::Removed => return Ok(ServeEnd::RemovedAfterApdus),
            SessionEnd::ReaderClosed => {
                eprintln!("cardgate-sim: the reader closed the connection; reconnecting");
            }
        }
    }
}

fn announce(options: &ServeOptions) -> Result<(), ServeError> {
    if options.announce_ready {
        // A closed stdout must not stop the card.
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "ready").and_then(|()| out.flush());
    }
    if let Some(path) = &options.ready_file {
        std::fs::write(path, b"ready\n").map_err(|source| ServeError::ReadyFile {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

fn connect(options: &ServeOptions, stop: &StopHandle) -> Result<Option<TcpStream>, ServeError> {
    let started = Instant::now();
    loop {
        if stop.is_stopped() {
            return Ok(None);
        }
        let attempt = options
            .vpcd
            .to_socket_addrs()
            .map_err(|source| ServeError::Resolve {
                addr: options.vpcd.clone(),
                source,
            })
            .map(|addrs| addrs.collect::<Vec<SocketAddr>>())?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolved to nothing");
        for addr in attempt {
            match TcpStream::connect_timeout(&addr, ATTEMPT_TIMEOUT) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Some(stream));
                }
                Err(e) => last = e,
            }
        }
        if started.elapsed() >= options.connect_timeout {
            return Err(ServeError::Connect {
                addr: options.vpcd.clone(),
                waited: started.elapsed(),
                source: last,
            });
        }
        std::thread::sleep(RETRY_INTERVAL);
    }
}

/// Reads exactly `buf.len()` bytes, then re-arms the immediate ACK.
fn read_message_part(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    stream.read_exact(buf)?;
    let _ = SockRef::from(&*stream).set_tcp_quickack(true);
    Ok(())
}

fn send(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).map_err(|_| io::Error::other("answer too long"))?;
    let mut frame = Vec::with_capacity(2 + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

fn session(
    card: &mut SoftCard,
    mut stream: TcpStream,
    remove_after: Option<u64>,
    apdus: &mut u64,
) -> SessionEnd {
    let removed = |stream: &TcpStream| {
        let _ = stream.shutdown(Shutdown::Both);
        SessionEnd::Removed
    };
    if remove_after.is_some_and(|n| *apdus >= n) {
        return removed(&stream);
    }
    loop {
        let mut prefix = [0u8; 2];
        if read_message_part(&mut stream, &mut prefix).is_err() {
            return SessionEnd::ReaderClosed;
        }
        let len = usize::from(u16::from_be_bytes(prefix));
        // The message may be a VERIFY carrying a PIN.
        let mut message = Zeroizing::new(vec![0u8; len]);
        if read_message_part(&mut stream, &mut message).is_err() {
            return SessionEnd::ReaderClosed;
        }
        let sent = match message.as_slice() {
            [] => Ok(()),
            [CTRL_POWER_OFF] => {
                card.power_off();
                Ok(())
            }
            [CTRL_POWER_ON] => {
                card.power_on();
                Ok(())
            }
            [CTRL_RESET] => {
                card.reset();
                Ok(())
            }
            [CTRL_GET_ATR] => send(&mut stream, &ATR),
            // Unknown controls are ignored, as vpicc does.
            [_] => Ok(()),
            apdu => {
                let response = card.handle(apdu);
                if let Some(e) = card.take_storage_error() {
                    eprintln!("cardgate-sim: could not persist the card state: {e}");
                }
                let sent = send(&mut stream, &response);
                *apdus += 1;
                if sent.is_ok() && remove_after.is_some_and(|n| *apdus >= n) {
                    return removed(&stream);
                }
                sent
            }
        };
        if sent.is_err() {
            return SessionEnd::ReaderClosed;
        }
    }
}
