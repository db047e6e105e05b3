//! `cardgate-sim`: create, drive and serve software operator cards.
#![forbid(unsafe_code)]

use cardgate_card::cert::{parse_iso_date, CardSerial, Role};
use cardgate_card::issue::IssueRequest;
use cardgate_card::{IssuerKey, Pin, Puk};
use cardgate_sim::vpcd::{self, ServeEnd, ServeOptions, StopHandle};
use cardgate_sim::{create_card, CardImage, SoftCard};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use zeroize::Zeroizing;

/// The longest issuer key file we read (an Ed25519 PKCS#8 document is 85 bytes).
const MAX_ISSUER_KEY_LEN: u64 = 4096;
/// The longest line `apdu` accepts: a short APDU is at most 261 bytes, 522 hex digits.
const MAX_APDU_LINE: usize = 1024;

#[derive(Parser)]
#[command(
    name = "cardgate-sim",
    version,
    about = "The cardgate software operator card"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Operator,
    Manager,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a personalised card image: a blank card issued through the real issuance flow
    /// (the card key is generated inside the card).
    Create {
        /// The issuer's Ed25519 PKCS#8 key, as `cardgatectl issuer init` writes it.
        #[arg(long, value_name = "FILE")]
        issuer_key: PathBuf,
        /// The operator ID written in the certificate.
        #[arg(long, value_name = "ID")]
        operator: String,
        /// The operator's initial PIN.
        #[arg(long)]
        pin: String,
        /// The card's PUK.
        #[arg(long)]
        puk: String,
        /// The holder's role.
        #[arg(long, value_enum, default_value = "operator")]
        role: RoleArg,
        /// The card serial number, 16 hex digits (default: random).
        #[arg(long, value_name = "HEX16")]
        serial: Option<String>,
        /// First day of validity (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        valid_from: Option<String>,
        /// Last day of validity (default: one year after the first day).
        #[arg(long, value_name = "YYYY-MM-DD")]
        valid_until: Option<String>,
        /// The card image to write.
        #[arg(long, value_name = "CARD")]
        out: PathBuf,
    },
    /// Writes a blank card image (factory state: a PUK, no PIN, no key, no certificate).
    Blank {
        /// The card's PUK.
        #[arg(long)]
        puk: String,
        /// The card image to write.
        #[arg(long, value_name = "CARD")]
        out: PathBuf,
    },
    /// One card session: reads one hex APDU per line on stdin, writes the hex response
    /// (data and status word) per line on stdout. State persists in the image.
    Apdu {
        /// The card image.
        #[arg(long, value_name = "CARD")]
        card: PathBuf,
    },
    /// Serves the card to a vsmartcard vpcd reader until SIGTERM.
    Serve {
        /// The card image.
        #[arg(long, value_name = "CARD")]
        card: PathBuf,
        /// The vpcd reader's address (pcscd listens on 35963 + slot).
        #[arg(long, value_name = "HOST:PORT")]
        vpcd: String,
        /// Remove the card (disconnect) right after answering N APDUs.
        #[arg(long, value_name = "N")]
        remove_after_apdus: Option<u64>,
        /// How long to retry while the reader is not listening, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        connect_timeout: u64,
        /// Write `ready` to this file each time the card is inserted (connected).
        #[arg(long, value_name = "PATH")]
        ready_file: Option<PathBuf>,
    },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("the PIN is not acceptable")]
    BadPin(#[source] cardgate_card::secret::SecretFormatError),
    #[error("the PUK is not acceptable")]
    BadPuk(#[source] cardgate_card::secret::SecretFormatError),
    #[error("cannot read the issuer key {path}")]
    ReadIssuerKey {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the issuer key {0} is larger than {MAX_ISSUER_KEY_LEN} bytes")]
    IssuerKeyTooLarge(PathBuf),
    #[error("the issuer key {path} is not usable")]
    IssuerKey {
        path: PathBuf,
        #[source]
        source: cardgate_card::issuer::IssuerKeyError,
    },
    #[error("--serial must be 16 hex digits")]
    BadSerial,
    #[error("{0} must be a date YYYY-MM-DD")]
    BadDate(&'static str),
    #[error("--valid-until is before --valid-from")]
    InvertedValidity,
    #[error("the random generator failed")]
    Random,
    #[error(transparent)]
    Create(#[from] cardgate_sim::CreateCardError),
    #[error(transparent)]
    Image(#[from] cardgate_sim::ImageError),
    #[error("reading standard input failed")]
    Stdin(#[source] io::Error),
    #[error("writing standard output failed")]
    Stdout(#[source] io::Error),
    #[error("line {line}: {problem}")]
    BadApduLine { line: usize, problem: &'static str },
    #[error(transparent)]
    Serve(#[from] vpcd::ServeError),
    #[error("cannot install the SIGTERM handler")]
    Signals(#[source] io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("cardgate-sim: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Create {
            issuer_key,
            operator,
            pin,
            puk,
            role,
            serial,
            valid_from,
            valid_until,
            out,
        } => {
            let pin = Zeroizing::new(pin);
            let puk = Zeroizing::new(puk);
            let pin = Pin::parse(&pin).map_err(CliError::BadPin)?;
            let puk = Puk::parse(&puk).map_err(CliError::BadPuk)?;
            let issuer = read_issuer_key(&issuer_key)?;
            let serial = match serial {
                Some(text) => CardSerial::from_hex(&text).ok_or(CliError::BadSerial)?,
                None => random_serial()?,
            };
            let valid_from = match valid_from {
                Some(text) => parse_iso_date(&text).ok_or(CliError::BadDate("--valid-from"))?,
                None => time::OffsetDateTime::now_utc().date(),
            };
            let valid_until = match valid_until {
                Some(text) => parse_iso_date(&text).ok_or(CliError::BadDate("--valid-until"))?,
                None => one_year_after(valid_from),
            };
            if valid_until < valid_from {
                return Err(CliError::InvertedValidity);
            }
            let request = IssueRequest {
                serial,
                operator_id: operator,
                role: match role {
                    RoleArg::Operator => Role::Operator,
                    RoleArg::Manager => Role::AccessManager,
                },
                valid_from,
                valid_until,
            };
            let image = create_card(&issuer, &puk, &pin, &request)?;
            image.save(&out)?;
            eprintln!("cardgate-sim: wrote card {serial} to {}", out.display());
            Ok(())
        }
        Command::Blank { puk, out } => {
            let puk = Zeroizing::new(puk);
            let puk = Puk::parse(&puk).map_err(CliError::BadPuk)?;
            CardImage::blank(&puk).save(&out)?;
            Ok(())
        }
        Command::Apdu { card } => apdu_session(&card),
        Command::Serve {
            card,
            vpcd,
            remove_after_apdus,
            connect_timeout,
            ready_file,
        } => {
            let mut card = SoftCard::open(&card)?;
            let options = ServeOptions {
                vpcd,
                connect_timeout: Duration::from_secs(connect_timeout),
                remove_after_apdus,
                ready_file,
                announce_ready: true,
            };
            let stop = StopHandle::new();
            watch_signals(stop.clone())?;
            match vpcd::serve(&mut card, &options, &stop)? {
                ServeEnd::Stopped => eprintln!("cardgate-sim: stopped; card removed"),
                ServeEnd::RemovedAfterApdus => eprintln!(
                    "cardgate-sim: card removed after {} APDUs",
                    remove_after_apdus.unwrap_or(0)
                ),
                _ => {}
            }
            Ok(())
        }
    }
}

/// SIGTERM and SIGINT remove the card: a small thread waits for them (signal-hook's safe
/// iterator) and stops the server, whose blocked read then returns at once.
fn watch_signals(stop: StopHandle) -> Result<(), CliError> {
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

fn read_issuer_key(path: &Path) -> Result<IssuerKey, CliError> {
    let read_err = |source| CliError::ReadIssuerKey {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut der = Zeroizing::new(Vec::new());
    file.take(MAX_ISSUER_KEY_LEN + 1)
        .read_to_end(&mut der)
        .map_err(read_err)?;
    if der.len() as u64 > MAX_ISSUER_KEY_LEN {
        return Err(CliError::IssuerKeyTooLarge(path.to_owned()));
    }
    IssuerKey::from_pkcs8(&der).map_err(|source| CliError::IssuerKey {
        path: path.to_owned(),
        source,
    })
}

fn random_serial() -> Result<CardSerial, CliError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CliError::Random)?;
    Ok(CardSerial(bytes))
}

/// The same day one year later; 29 February becomes 28 February.
fn one_year_after(date: time::Date) -> time::Date {
    let year = date.year() + 1;
    date.replace_year(year)
        .or_else(|_| date.replace_day(28).and_then(|d| d.replace_year(year)))
        .unwrap_or(date)
}

/// One card session over stdin/stdout. Blank lines are skipped; spaces inside a line are
/// allowed. A bad line stops the session with an error naming the line (never its content,
/// which may hold a PIN).
fn apdu_session(path: &Path) -> Result<(), CliError> {
    let mut card = SoftCard::open(path)?;
    card.power_on();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut line = Zeroizing::new(String::new());
    let mut number = 0;
    let result = loop {
        line.clear();
        number += 1;
        // Read at most one line, capped, so that a huge line cannot exhaust memory.
        let read = (&mut input)
            .take(MAX_APDU_LINE as u64 + 1)
            .read_line(&mut line)
            .map_err(CliError::Stdin);
        match read {
            Err(e) => break Err(e),
            Ok(0) => break Ok(()),
            Ok(_) => {}
        }
        if line.len() > MAX_APDU_LINE {
            break Err(CliError::BadApduLine {
                line: number,
                problem: "is too long",
            });
        }
        let digits: Zeroizing<String> =
            Zeroizing::new(line.chars().filter(|c| !c.is_whitespace()).collect());
        if digits.is_empty() {
            continue;
        }
        let apdu = match hex::decode(digits.as_bytes()) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(_) => {
                break Err(CliError::BadApduLine {
                    line: number,
                    problem: "is not an even number of hex digits",
                })
            }
        };
        let response = card.handle(&apdu);
        if let Some(e) = card.take_storage_error() {
            eprintln!("cardgate-sim: could not persist the card state: {e}");
        }
        if let Err(e) = writeln!(out, "{}", hex::encode_upper(&response)).and_then(|()| out.flush())
        {
            break Err(CliError::Stdout(e));
        }
    };
    card.power_off();
    result
}
