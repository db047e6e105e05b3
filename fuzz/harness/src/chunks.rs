//! The scripted-card input format of OpenSC's `fuzzer_reader.c`: a sequence of chunks, each a
//! 2-byte length then that many bytes. A length past the end of the input takes what is left.
//!
//! One difference from OpenSC: the length is big-endian here (OpenSC reads it in host order,
//! which is little-endian on the machines OSS-Fuzz uses), so that corpus files read the same
//! on every machine.

/// Most chunks read from one input: a login is a handful of exchanges, and an input that
/// asks for thousands only slows the engine down.
pub const MAX_CHUNKS: usize = 256;

/// Splits an input into chunks. Fewer than two bytes left ends the sequence.
pub fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while out.len() < MAX_CHUNKS {
        let (len, rest) = match data {
            [hi, lo, rest @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
            _ => break,
        };
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

/// Like [`split`], but also returns each chunk's declared length (which may exceed what was
/// left), for formats that give special meaning to some lengths.
pub fn split_with_lengths(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while out.len() < MAX_CHUNKS {
        let (len, rest) = match data {
            [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), rest),
            _ => break,
        };
        let take = usize::from(len).min(rest.len());
        out.push((len, &rest[..take]));
        data = &rest[take..];
    }
    out
}

/// Joins chunks back into an input (chunks over 65535 bytes are cut).
pub fn join<C: AsRef<[u8]>>(chunks: &[C]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        let chunk = chunk.as_ref();
        let chunk = &chunk[..chunk.len().min(usize::from(u16::MAX))];
        // The cut above keeps the length within u16.
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_join_round_trip_and_short_tails() {
        let chunks: [&[u8]; 3] = [b"atr", b"", b"\x90\x00"];
        let bytes = join(&chunks);
        assert_eq!(split(&bytes), chunks.to_vec());
        // A length past the end takes what is left; a lone byte ends the sequence.
        assert_eq!(split(&[0x00, 0x05, 1, 2]), vec![&[1u8, 2][..]]);
        assert_eq!(split(&[0x00]), Vec::<&[u8]>::new());
    }
}
