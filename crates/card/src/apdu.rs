//! Command and response APDUs (ISO/IEC 7816-4 short form only, as the contract requires).

use crate::status::StatusWord;
use zeroize::Zeroizing;

/// The most data a short command APDU carries.
pub const MAX_COMMAND_DATA: usize = 255;
/// The most data a short response APDU carries.
pub const MAX_RESPONSE_DATA: usize = 256;

/// A command APDU. Its data is kept in a [`Zeroizing`] buffer, since VERIFY and friends carry
/// secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    data: Zeroizing<Vec<u8>>,
    /// Expected response length: `None` for no Le, `Some(256)` for Le byte `00`.
    le: Option<u16>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Data may be a PIN: show only its length.
        f.debug_struct("Command")
            .field("cla", &format_args!("{:02X}", self.cla))
            .field("ins", &format_args!("{:02X}", self.ins))
            .field("p1", &format_args!("{:02X}", self.p1))
            .field("p2", &format_args!("{:02X}", self.p2))
            .field("lc", &self.data.len())
            .field("le", &self.le)
            .finish()
    }
}

/// Why bytes are not a short command APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduParseError {
    /// Fewer than the four header bytes.
    #[error("command APDU shorter than its 4-byte header ({len} bytes)")]
    TooShort {
        /// The length received.
        len: usize,
    },
    /// Lc disagrees with the bytes that follow, or an extended length was used.
    #[error("command APDU length fields do not match its {len} bytes")]
    BadLength {
        /// The length received.
        len: usize,
    },
}

/// Why a command could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduBuildError {
    /// Data longer than a short APDU holds.
    #[error("command data of {len} bytes exceeds the short-APDU limit of {MAX_COMMAND_DATA}")]
    DataTooLong {
        /// The length asked for.
        len: usize,
    },
    /// Le outside 1..=256.
    #[error("expected length {le} is outside 1..=256")]
    BadLe {
        /// The value asked for.
        le: u16,
    },
}

impl Command {
    /// A command with no data and no Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Zeroizing::new(Vec::new()),
            le: None,
        }
    }

    /// Sets the command data (taken into a zeroizing buffer).
    pub fn with_data(mut self, data: &[u8]) -> Result<Self, ApduBuildError> {
        if data.len() > MAX_COMMAND_DATA {
            return Err(ApduBuildError::DataTooLong { len: data.len() });
        }
        self.data = Zeroizing::new(data.to_vec());
        Ok(self)
    }

    /// Sets Le: `256` is encoded as `00`.
    pub fn with_le(mut self, le: u16) -> Result<Self, ApduBuildError> {
        if !(1..=256).contains(&le) {
            return Err(ApduBuildError::BadLe { le });
        }
        self.le = Some(le);
        Ok(self)
    }

    /// The command data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Expected response length, if the command has an Le field.
    pub fn le(&self) -> Option<u16> {
        self.le
    }

    /// Encodes the command (a zeroizing buffer: it may hold a PIN).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(6 + self.data.len()));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            // Length is capped by `with_data`.
            out.push(self.data.len() as u8);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push(if le == 256 { 0 } else { le as u8 });
        }
        out
    }

    /// Parses a short command APDU (the four ISO cases).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduParseError> {
        let len = bytes.len();
        let [cla, ins, p1, p2] = match bytes.get(..4) {
            Some(&[a, b, c, d]) => [a, b, c, d],
            _ => return Err(ApduParseError::TooShort { len }),
        };
        let body = &bytes[4..];
        let le_of = |b: u8| if b == 0 { 256 } else { u16::from(b) };
        let (data, le): (&[u8], Option<u16>) = match body {
            // Case 1.
            [] => (&[], None),
            // Case 2: Le only.
            [le] => (&[], Some(le_of(*le))),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if lc == 0 {
                    // An Lc of 0 with more bytes is the extended form, which the contract excludes.
                    return Err(ApduParseError::BadLength { len });
                }
                match rest.len() {
                    // Case 3.
                    n if n == lc => (rest, None),
                    // Case 4.
                    n if n == lc + 1 => (&rest[..lc], Some(le_of(rest[lc]))),
                    _ => return Err(ApduParseError::BadLength { len }),
                }
            }
        };
        Ok(Command {
            cla,
            ins,
            p1,
            p2,
            data: Zeroizing::new(data.to_vec()),
            le,
        })
    }
}

/// A response APDU: data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    data: Zeroizing<Vec<u8>>,
    /// The status word.
    pub status: StatusWord,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("len", &self.data.len())
            .field("status", &self.status)
            .finish()
    }
}

/// Why bytes are not a response APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseParseError {
    /// Fewer than the two status bytes.
    #[error("response of {len} bytes has no status word")]
    NoStatusWord {
        /// The length received.
        len: usize,
    },
    /// More data than a short response can carry.
    #[error("response data of {len} bytes exceeds the short-APDU limit of {MAX_RESPONSE_DATA}")]
    TooLong {
        /// The data length received.
        len: usize,
    },
}

impl Response {
    /// A response with data.
    pub fn new(data: Vec<u8>, status: StatusWord) -> Self {
        Response {
            data: Zeroizing::new(data),
            status,
        }
    }

    /// A response with no data.
    pub fn status_only(status: StatusWord) -> Self {
        Response::new(Vec::new(), status)
    }

    /// Parses raw response bytes (data, then SW1 SW2).
    pub fn parse(bytes: &[u8]) -> Result<Self, ResponseParseError> {
        let len = bytes.len();
        if len < 2 {
            return Err(ResponseParseError::NoStatusWord { len });
        }
        let (data, sw) = bytes.split_at(len - 2);
        if data.len() > MAX_RESPONSE_DATA {
            return Err(ResponseParseError::TooLong { len: data.len() });
        }
        Ok(Response::new(
            data.to_vec(),
            StatusWord::from_bytes([sw[0], sw[1]]),
        ))
    }

    /// The response data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the data out of the response.
    pub fn into_data(self) -> Zeroizing<Vec<u8>> {
        self.data
    }

    /// Encodes data then status word.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(self.data.len() + 2));
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.status.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn four_cases_round_trip() {
        let cases: [&[u8]; 4] = [
            &[0x00, 0x20, 0x00, 0x81],
            &[0x00, 0xCA, 0x7F, 0x21, 0x00],
            &[0x00, 0xDA, 0x7F, 0x21, 0x02, 0xAA, 0xBB],
            &[0x00, 0x88, 0x00, 0x00, 0x01, 0x11, 0x00],
        ];
        for bytes in cases {
            let cmd = Command::parse(bytes).unwrap();
            assert_eq!(&cmd.to_bytes()[..], bytes);
        }
        let case2 = Command::parse(&[0x00, 0xCA, 0x7F, 0x21, 0x00]).unwrap();
        assert_eq!(case2.le(), Some(256));
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert_eq!(
            Command::parse(&[0x00, 0x20]),
            Err(ApduParseError::TooShort { len: 2 })
        );
        assert_eq!(
            Command::parse(&[0x00, 0x20, 0x00, 0x81, 0x05, 0x01]),
            Err(ApduParseError::BadLength { len: 6 })
        );
        assert!(Command::new(0, 0, 0, 0).with_data(&[0; 256]).is_err());
    }

    #[test]
    fn debug_hides_command_data() {
        let cmd = Command::new(0, 0x20, 0, 0x81)
            .with_data(b"secret12")
            .unwrap();
        let shown = format!("{cmd:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("115"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(cmd) = Command::parse(&bytes) {
                prop_assert_eq!(&cmd.to_bytes()[..], &bytes[..]);
            }
            let _ = Response::parse(&bytes);
        }
    }
}
