//! Export to the local syslog as RFC 5424 datagrams (`/dev/log`), for a municipality's log
//! collector. Best effort: the durable log is the record; a failed send is only counted.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use crate::record::{Label, Outcome, Record};

/// Facility `authpriv` (10).
const FACILITY_AUTHPRIV: u8 = 10;
/// The structured-data ID. 32473 is the private enterprise number IANA reserves for examples
/// (RFC 5612); a municipality with its own number can change it downstream.
pub const SD_ID: &str = "cardgate@32473";
const APP_NAME: &str = "cardgate-audit";

/// Sends records to a syslog socket.
#[derive(Debug)]
pub struct SyslogExporter {
    socket: UnixDatagram,
    path: PathBuf,
    hostname: String,
    procid: u32,
}

fn severity(record: &Record) -> u8 {
    match record.event.outcome() {
        Outcome::Failure => 4, // warning
        Outcome::Success => 6, // informational
        Outcome::Info => 5,    // notice
    }
}

/// Printable US-ASCII without spaces, at most `max` characters, or `-` (RFC 5424 §6).
fn header_field(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

impl SyslogExporter {
    /// Connects to the socket at `path` (normally `/dev/log`). `terminal` is the HOSTNAME field.
    pub fn connect(path: &Path, terminal: &Label) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(SyslogExporter {
            socket,
            path: path.to_owned(),
            hostname: header_field(terminal.as_str(), 255),
            procid: std::process::id(),
        })
    }

    /// The RFC 5424 message for a record and its line:
    /// `<PRI>1 TIMESTAMP HOSTNAME cardgate-audit PROCID KIND [cardgate@32473 seq="N"] BOM LINE`.
    pub fn format(&self, record: &Record, line: &[u8]) -> Vec<u8> {
        let pri = u16::from(FACILITY_AUTHPRIV) * 8 + u16::from(severity(record));
        let mut out = format!(
            "<{pri}>1 {} {} {APP_NAME} {} {} [{SD_ID} seq=\"{}\"] \u{FEFF}",
            record.time,
            self.hostname,
            self.procid,
            header_field(record.event.kind_name(), 32),
            record.seq
        )
        .into_bytes();
        out.extend_from_slice(line);
        out
    }

    /// Sends one line (which must be a record this crate wrote).
    pub fn send_line(&self, line: &[u8]) -> io::Result<()> {
        let record = Record::parse(line).map_err(io::Error::other)?;
        self.socket.send(&self.format(&record, line)).map(|_| ())
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
