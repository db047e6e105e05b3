// SPDX-License-Identifier: LGPL-3.0-only
//! The transport layer of a contact card that opcard leaves to its host: command chaining
//! (CLA bit `0x10`) to take commands longer than one short APDU, and `61xx` + GET RESPONSE
//! to give back responses longer than the reader asked for.

use iso7816::command::{CommandView, FromSliceError};
use iso7816::Status;

/// The longest command the card takes after chaining (opcard keeps data objects such as
/// the cardholder certificate up to 4096 bytes; PUT DATA adds its TLV header).
pub const MAX_COMMAND: usize = 8192;
/// The longest response opcard may produce.
pub const MAX_RESPONSE: usize = 8192;

/// The response buffer opcard writes into.
pub type Reply = heapless::Vec<u8, MAX_RESPONSE>;

const CHAIN_BIT: u8 = 0x10;
const INS_GET_RESPONSE: u8 = 0xC0;

const SW_OK: [u8; 2] = [0x90, 0x00];
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
/// "Last command of the chain expected": a chain broken by a different command.
const SW_CHAIN_BROKEN: [u8; 2] = [0x68, 0x83];
/// "Conditions of use not satisfied": GET RESPONSE with nothing left to give.
const SW_NOTHING_PENDING: [u8; 2] = [0x69, 0x85];

/// A chain being received: the header of its commands (CLA without the chain bit, INS,
/// P1, P2) and the data so far.
#[derive(Debug)]
struct Chain {
    header: [u8; 4],
    data: Vec<u8>,
}

/// Chaining and GET RESPONSE state between APDUs; cleared at power-off and reset.
#[derive(Debug, Default)]
pub struct Transport {
    chain: Option<Chain>,
    pending: Vec<u8>,
}

impl Transport {
    /// Forgets any chain and pending response (the card lost power).
    pub fn clear(&mut self) {
        self.chain = None;
        self.pending.clear();
    }

    /// Answers one APDU from the reader: `card` runs a complete command.
    pub fn execute<F>(&mut self, raw: &[u8], card: F) -> Vec<u8>
    where
        F: FnOnce(CommandView<'_>, &mut Reply) -> Result<(), Status>,
    {
        let view = match CommandView::try_from(raw) {
            Ok(view) => view,
            Err(e) => {
                self.clear();
                return sw(parse_error(e)).to_vec();
            }
        };
        // `raw` parsed, so it has a 4-byte header.
        let header = [raw[0] & !CHAIN_BIT, raw[1], raw[2], raw[3]];
        let chained = raw[0] & CHAIN_BIT != 0;

        if header[1] == INS_GET_RESPONSE && self.chain.is_none() {
            return self.get_response(&view);
        }
        // Any other command ends what was left of the previous response.
        self.pending.clear();

        let mut full = None;
        if let Some(chain) = self.chain.as_mut() {
            if chain.header != header {
                self.chain = None;
                return SW_CHAIN_BROKEN.to_vec();
            }
            if chain.data.len() + view.data().len() > MAX_COMMAND {
                self.chain = None;
                return SW_WRONG_LENGTH.to_vec();
            }
            chain.data.extend_from_slice(view.data());
            if !chained {
                full = self.chain.take();
            }
        } else if chained {
            self.chain = Some(Chain {
                header,
                data: view.data().to_vec(),
            });
        }
        if chained {
            return SW_OK.to_vec();
        }

        let mut reply = Reply::new();
        let result = match full {
            Some(chain) => {
                let encoded = encode_extended(chain.header, &chain.data, view.expected());
                match CommandView::try_from(encoded.as_slice()) {
                    Ok(whole) => card(whole, &mut reply),
                    Err(_) => Err(Status::UnspecifiedCheckingError),
                }
            }
            None => card(view, &mut reply),
        };
        match result {
            Ok(()) => {
                self.pending = reply.to_vec();
                self.next_chunk(view.expected(), view.extended)
            }
            Err(status) => sw(status).to_vec(),
        }
    }

    fn get_response(&mut self, view: &CommandView<'_>) -> Vec<u8> {
        if self.pending.is_empty() {
            return SW_NOTHING_PENDING.to_vec();
        }
        // GET RESPONSE without Le asks for what the last 61xx announced, at most 256.
        let le = match view.expected() {
            0 => 256,
            n => n,
        };
        self.next_chunk(le, view.extended)
    }

    /// Sends up to `le` bytes of the pending response, with `61xx` while more remains.
    fn next_chunk(&mut self, le: usize, extended: bool) -> Vec<u8> {
        let take = if extended && le == 0 {
            // An extended Le of 0000 is 65536: everything fits.
            self.pending.len()
        } else {
            le.min(self.pending.len())
        };
        let mut out: Vec<u8> = self.pending.drain(..take).collect();
        let rest = self.pending.len();
        if rest == 0 {
            out.extend_from_slice(&SW_OK);
        } else {
            // 6100 means 256 bytes or more.
            out.extend_from_slice(&[0x61, u8::try_from(rest).unwrap_or(0)]);
        }
        out
    }
}

fn sw(status: Status) -> [u8; 2] {
    status.into()
}

fn parse_error(e: FromSliceError) -> Status {
    match e {
        FromSliceError::InvalidClass => Status::ClassNotSupported,
        // Every other case is a length field that does not match the bytes sent.
        FromSliceError::InvalidFirstBodyByteForExtended
        | FromSliceError::TooShort
        | FromSliceError::TooLong
        | FromSliceError::InvalidSliceLength => Status::WrongLength,
    }
}

/// A whole command in extended form (ISO 7816-4 cases 1, 2E, 3E, 4E), so that a chain of any
/// length below [`MAX_COMMAND`] parses as one.
fn encode_extended(header: [u8; 4], data: &[u8], le: usize) -> Vec<u8> {
    let mut out = header.to_vec();
    if data.is_empty() && le == 0 {
        return out;
    }
    out.push(0x00);
    if !data.is_empty() {
        // MAX_COMMAND < 65536.
        let lc = u16::try_from(data.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&lc.to_be_bytes());
        out.extend_from_slice(data);
    }
    if le > 0 {
        let le = u16::try_from(le).unwrap_or(0);
        out.extend_from_slice(&le.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card that echoes the command's data `times` times, and records what it saw.
    fn echo(
        times: usize,
        seen: &mut Vec<(u8, u8, u8, Vec<u8>)>,
    ) -> impl FnOnce(CommandView<'_>, &mut Reply) -> Result<(), Status> + '_ {
        move |c, reply| {
            seen.push((c.instruction().into(), c.p1, c.p2, c.data().to_vec()));
            for _ in 0..times {
                reply
                    .extend_from_slice(c.data())
                    .map_err(|_| Status::NotEnoughMemory)?;
            }
            Ok(())
        }
    }

    fn short(cla: u8, ins: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
        let mut v = vec![cla, ins, 0x12, 0x34];
        if !data.is_empty() {
            v.push(u8::try_from(data.len()).unwrap_or(0));
            v.extend_from_slice(data);
        }
        if let Some(le) = le {
            v.push(le);
        }
        v
    }

    #[test]
    fn a_chain_reaches_the_card_as_one_command() {
        let mut t = Transport::default();
        let mut seen = Vec::new();
        let a = vec![0xAA; 200];
        let b = vec![0xBB; 100];
        assert_eq!(
            t.execute(&short(0x10, 0xDA, &a, None), echo(0, &mut seen)),
            SW_OK
        );
        assert!(seen.is_empty(), "the card saw a chain part");
        assert_eq!(
            t.execute(&short(0x00, 0xDA, &b, None), echo(0, &mut seen)),
            SW_OK
        );
        let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
        assert_eq!(seen, vec![(0xDA, 0x12, 0x34, whole)]);
    }

    #[test]
    fn a_chain_broken_by_another_command_is_refused() {
        let mut t = Transport::default();
        let mut seen = Vec::new();
        t.execute(&short(0x10, 0xDA, &[1, 2], None), echo(0, &mut seen));
        let answer = t.execute(&short(0x00, 0xDB, &[3], None), echo(0, &mut seen));
        assert_eq!(answer, SW_CHAIN_BROKEN);
        assert!(seen.is_empty());
    }

    #[test]
    fn a_chain_past_the_cap_is_refused() {
        let mut t = Transport::default();
        let mut seen = Vec::new();
        let part = vec![0u8; 255];
        let mut last = Vec::new();
        for _ in 0..=(MAX_COMMAND / 255) {
            last = t.execute(&short(0x10, 0xDA, &part, None), echo(0, &mut seen));
        }
        assert_eq!(last, SW_WRONG_LENGTH);
        assert!(seen.is_empty());
    }

    #[test]
    fn a_long_response_comes_in_get_response_chunks() {
        let mut t = Transport::default();
        let mut seen = Vec::new();
        let data: Vec<u8> = (0..=199u8).collect();
        // 200 bytes echoed twice: 400 bytes, more than one short Le of 256.
        let first = t.execute(&short(0x00, 0xCA, &data, Some(0)), echo(2, &mut seen));
        assert_eq!(first.len(), 256 + 2);
        assert_eq!(&first[256..], &[0x61, 144]);
        let second = t.execute(&[0x00, 0xC0, 0x00, 0x00, 144], echo(0, &mut seen));
        assert_eq!(second.len(), 144 + 2);
        assert_eq!(&second[144..], &SW_OK);
        let mut all = first[..256].to_vec();
        all.extend_from_slice(&second[..144]);
        let expected: Vec<u8> = data.iter().chain(&data).copied().collect();
        assert_eq!(all, expected);
        assert_eq!(seen.len(), 1, "GET RESPONSE reached the card");
        assert_eq!(
            t.execute(&[0x00, 0xC0, 0x00, 0x00, 0x00], echo(0, &mut seen)),
            SW_NOTHING_PENDING
        );
    }

    #[test]
    fn an_extended_le_takes_the_whole_response() {
        let mut t = Transport::default();
        let mut seen = Vec::new();
        let data = vec![7u8; 250];
        let mut apdu = vec![0x00, 0xCA, 0x00, 0x00, 0x00, 0x00, 250];
        apdu.extend_from_slice(&data);
        apdu.extend_from_slice(&[0x00, 0x00]);
        let answer = t.execute(&apdu, echo(4, &mut seen));
        assert_eq!(answer.len(), 1000 + 2);
        assert_eq!(&answer[1000..], &SW_OK);
    }

    #[test]
    fn a_new_command_drops_the_rest_of_a_response_and_clear_forgets_a_chain() {
        let mut t = Transport::default();
        let mut seen = Vec::new();
        let data = vec![1u8; 200];
        let first = t.execute(&short(0x00, 0xCA, &data, Some(100)), echo(1, &mut seen));
        assert_eq!(&first[100..], &[0x61, 100]);
        t.execute(&short(0x00, 0x20, &[], None), echo(0, &mut seen));
        assert_eq!(
            t.execute(&[0x00, 0xC0, 0x00, 0x00, 0x00], echo(0, &mut seen)),
            SW_NOTHING_PENDING
        );
        t.execute(&short(0x10, 0xDA, &[1], None), echo(0, &mut seen));
        t.clear();
        seen.clear();
        t.execute(&short(0x00, 0xDB, &[2], None), echo(0, &mut seen));
        assert_eq!(seen, vec![(0xDB, 0x12, 0x34, vec![2])]);
    }

    #[test]
    fn a_malformed_apdu_gets_a_status_word() {
        let mut t = Transport::default();
        let mut seen = Vec::new();
        assert_eq!(
            t.execute(&[0x00, 0xA4], echo(0, &mut seen)),
            SW_WRONG_LENGTH
        );
        // Lc says 5 bytes, 1 follows.
        assert_eq!(
            t.execute(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0x01], echo(0, &mut seen)),
            SW_WRONG_LENGTH
        );
        assert!(seen.is_empty());
    }
}
