// SPDX-License-Identifier: LGPL-3.0-only
//! `opcard-virt`: a virtual OpenPGP card v3.4 for cardgate's tests. It runs Nitrokey's
//! `opcard` (the Nitrokey 3's OpenPGP application) on trussed's virtual platform and puts it
//! into a vsmartcard `vpcd` reader, as `cardgate-sim serve` does with cardgate's own card.
//!
//! ```text
//! opcard-virt --vpcd HOST:PORT --state DIR [--serial HEX8] [--remove-after-apdus N]
//!             [--connect-timeout SECONDS]
//! ```
//!
//! A new state directory is a factory-fresh card (PW1 `123456`, PW3 `12345678`); what the
//! card keeps (PINs, retry counters, keys, data objects) survives a restart. Power-off and
//! reset from the reader clear what a real card loses with power (the verified PINs). It
//! writes `ready` on stdout each time it is in the reader, and exits 0 on SIGTERM/SIGINT
//! or after `--remove-after-apdus N` answered APDUs; 2 on a usage error, 1 on any other.
#![forbid(unsafe_code)]

mod apdu;
mod platform;
mod state;
mod vpcd;

use apdu::Transport;
use state::{StateDir, StateError};
use std::fmt;
use std::io::{self, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: opcard-virt --vpcd HOST:PORT --state DIR [--serial HEX8] \
[--remove-after-apdus N] [--connect-timeout SECONDS]";

/// A T=1 ATR whose historical bytes are opcard's (DO 5F52), as the OpenPGP card spec wants.
const ATR: [u8; 21] = [
    0x3B, 0xDA, 0x18, 0xFF, 0x81, 0xB1, 0xFE, 0x75, 0x1F, 0x03, // T0 .. TA4
    0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01, 0x60, 0x00, 0x90, 0x00, // historical bytes
    0x1C, // TCK
];

struct Args {
    vpcd: String,
    state: PathBuf,
    serial: Option<[u8; 4]>,
    remove_after_apdus: Option<u64>,
    connect_timeout: Duration,
}

#[derive(Debug)]
enum CliError {
    Usage(String),
    State(StateError),
    Resolve { addr: String, source: io::Error },
    Connect { addr: String, source: io::Error },
    Signals(io::Error),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(problem) => write!(f, "{problem}\n{USAGE}"),
            CliError::State(e) => e.fmt(f),
            CliError::Resolve { addr, source } => {
                write!(f, "cannot resolve the vpcd address {addr}: {source}")
            }
            CliError::Connect { addr, source } => {
                write!(f, "no vpcd reader listens on {addr}: {source}")
            }
            CliError::Signals(e) => write!(f, "cannot watch SIGTERM and SIGINT: {e}"),
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, CliError> {
    let usage = |s: String| CliError::Usage(s);
    let (mut vpcd, mut state, mut serial, mut remove, mut timeout) = (None, None, None, None, 30);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| usage(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--vpcd" => vpcd = Some(value()?),
            "--state" => state = Some(PathBuf::from(value()?)),
            "--serial" => {
                let text = value()?;
                serial = Some(
                    state::parse_serial(&text)
                        .ok_or_else(|| usage(format!("--serial {text}: not 8 hex digits")))?,
                );
            }
            "--remove-after-apdus" => {
                let text = value()?;
                remove = Some(
                    text.parse::<u64>()
                        .map_err(|_| usage(format!("--remove-after-apdus {text}: not a count")))?,
                );
            }
            "--connect-timeout" => {
                let text = value()?;
                timeout = text
                    .parse::<u64>()
                    .map_err(|_| usage(format!("--connect-timeout {text}: not seconds")))?;
            }
            other => return Err(usage(format!("unknown argument {other}"))),
        }
    }
    Ok(Args {
        vpcd: vpcd.ok_or_else(|| usage("--vpcd is required".into()))?,
        state: state.ok_or_else(|| usage("--state is required".into()))?,
        serial,
        remove_after_apdus: remove,
        connect_timeout: Duration::from_secs(timeout),
    })
}

/// Stops the server from the signal thread: sets the flag and shuts the reader connection
/// down, which wakes the blocked read at once.
#[derive(Clone, Default)]
struct Stop {
    stopped: Arc<AtomicBool>,
    stream: Arc<Mutex<Option<TcpStream>>>,
}

impl Stop {
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(stream) = self.lock().take() {
            // Already closed is as good.
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<TcpStream>> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a handle on the connection; false when a stop came first.
    fn attach(&self, stream: &TcpStream) -> bool {
        let mut slot = self.lock();
        if self.is_stopped() {
            return false;
        }
        *slot = stream.try_clone().ok();
        slot.is_some()
    }
}

fn watch_signals(stop: Stop) -> Result<(), CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).map_err(CliError::Signals)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stop.stop();
            }
        })
        .map_err(CliError::Signals)?;
    Ok(())
}

/// Why serving ended without an error.
enum End {
    Stopped,
    Removed(u64),
}

/// opcard in a vpcd reader: the card, the transport layer opcard leaves to its host, and
/// the count of APDUs answered.
struct VirtCard<C: opcard::Client> {
    card: opcard::Card<C>,
    transport: Transport,
    answered: u64,
}

impl<C: opcard::Client> vpicc::VSmartCard for VirtCard<C> {
    fn atr(&self) -> &[u8] {
        &ATR
    }

    fn power_on(&mut self) {
        log_power("power on");
        self.power_cycle();
    }

    fn power_off(&mut self) {
        log_power("power off");
        self.power_cycle();
    }

    fn reset(&mut self) {
        log_power("reset");
        self.power_cycle();
    }

    fn execute(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.answered += 1;
        let card = &mut self.card;
        let response = self
            .transport
            .execute(apdu, |command, reply| card.handle(command, reply));
        log_apdu(self.answered, apdu, &response);
        response
    }
}

/// Each APDU on stderr, header and lengths only (the data may be a PIN): a test's log then
/// shows what reached the card, in which form (a chain, an extended length, GET RESPONSE).
fn log_apdu(n: u64, apdu: &[u8], response: &[u8]) {
    let header: Vec<String> = apdu.iter().take(4).map(|b| format!("{b:02X}")).collect();
    let sw: String = response
        .iter()
        .skip(response.len().saturating_sub(2))
        .map(|b| format!("{b:02X}"))
        .collect();
    eprintln!(
        "opcard-virt: APDU {n}: {} ({} bytes) -> {sw} ({} bytes)",
        header.join(" "),
        apdu.len(),
        response.len()
    );
}

/// Each power event from the reader, on stderr: a test's log then shows when pcscd powered
/// the card down by itself (and so cleared its verified PINs).
fn log_power(event: &str) {
    eprintln!("opcard-virt: {event} from the reader");
}

impl<C: opcard::Client> VirtCard<C> {
    /// What a card loses with its power: opcard's volatile state (the verified PINs, the
    /// selected application) and any half-received chain or unread response.
    fn power_cycle(&mut self) {
        self.card.reset();
        self.transport.clear();
    }
}

fn connect(args: &Args, stop: &Stop) -> Result<Option<TcpStream>, CliError> {
    let started = Instant::now();
    loop {
        if stop.is_stopped() {
            return Ok(None);
        }
        let addrs: Vec<SocketAddr> = args
            .vpcd
            .to_socket_addrs()
            .map_err(|source| CliError::Resolve {
                addr: args.vpcd.clone(),
                source,
            })?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in &addrs {
            match TcpStream::connect(addr) {
                Ok(stream) => return Ok(Some(stream)),
                Err(e) => last = e,
            }
        }
        if started.elapsed() >= args.connect_timeout {
            return Err(CliError::Connect {
                addr: args.vpcd.clone(),
                source: last,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve<C: opcard::Client>(
    card: &mut VirtCard<C>,
    args: &Args,
    stop: &Stop,
) -> Result<End, CliError> {
    loop {
        let Some(stream) = connect(args, stop)? else {
            return Ok(End::Stopped);
        };
        if !stop.attach(&stream) {
            return Ok(End::Stopped);
        }
        // The card enters the reader unpowered.
        card.power_cycle();
        {
            // A closed stdout must not stop the card.
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "ready").and_then(|()| out.flush());
        }
        let mut connection = vpcd::Connection::new(stream);
        let ended = loop {
            // Checked before each message too, so that N = 0 leaves at once, as
            // cardgate-sim does.
            if args.remove_after_apdus.is_some_and(|n| card.answered >= n) {
                // Dropping the connection takes the card out of the reader.
                drop(connection);
                card.power_cycle();
                return Ok(End::Removed(card.answered));
            }
            if let Err(e) = connection.poll(card) {
                break e;
            }
        };
        card.power_cycle();
        if stop.is_stopped() {
            return Ok(End::Stopped);
        }
        eprintln!(
            "opcard-virt: the reader at {} went away ({ended}); reconnecting",
            args.vpcd
        );
    }
}

fn run(args: &Args) -> Result<End, CliError> {
    let state = StateDir::open(&args.state, args.serial).map_err(CliError::State)?;
    let stop = Stop::default();
    watch_signals(stop.clone())?;
    let mut options = opcard::Options::default();
    options.serial = state.serial();
    // A PC has no button: trussed's virtual UI would confirm every touch by itself.
    options.button_available = false;
    platform::with_client(&state.internal(), &state.external(), |client| {
        let mut card = VirtCard {
            card: opcard::Card::new(client, options),
            transport: Transport::default(),
            answered: 0,
        };
        serve(&mut card, args, &stop)
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("opcard-virt: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(End::Stopped) => {
            eprintln!("opcard-virt: stopped; card removed");
            ExitCode::SUCCESS
        }
        Ok(End::Removed(n)) => {
            eprintln!("opcard-virt: card removed after {n} APDUs");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("opcard-virt: {e} (state {})", args.state.display());
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_atr_check_byte_is_right() {
        // TCK makes the XOR of T0 .. TCK zero.
        assert_eq!(ATR[1..].iter().fold(0u8, |x, b| x ^ b), 0);
        assert_eq!(
            usize::from(ATR[1] & 0x0F),
            10,
            "T0 announces the 10 historical bytes"
        );
    }

    #[test]
    fn arguments_parse_and_bad_ones_are_named() {
        let args = |s: &str| parse_args(s.split_whitespace().map(String::from));
        let ok =
            args("--vpcd 127.0.0.1:35963 --state /tmp/x --serial 0000ABCD --remove-after-apdus 3");
        let ok = ok
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.vpcd, "127.0.0.1:35963");
        assert_eq!(ok.serial, Some([0, 0, 0xAB, 0xCD]));
        assert_eq!(ok.remove_after_apdus, Some(3));
        for (bad, named) in [
            ("--state /tmp/x", "--vpcd"),
            ("--vpcd a:1", "--state"),
            ("--vpcd a:1 --state x --serial 12", "--serial 12"),
            ("--vpcd a:1 --state x --remove-after-apdus -1", "-1"),
            ("--vpcd a:1 --state x --frob", "--frob"),
            ("--vpcd", "--vpcd needs a value"),
        ] {
            let e = args(bad).map(|_| ()).map_err(|e| e.to_string());
            assert!(e.as_ref().is_err_and(|e| e.contains(named)), "{bad}: {e:?}");
        }
    }
}
