//! The mutator: byte-level mutations (bit flips, interesting values, inserts, deletes,
//! duplications, splices, dictionary tokens) and, for chunked inputs, mutations that keep the
//! 2-byte length prefixes consistent (drop, duplicate, swap, splice or resize a chunk; end a
//! chunk with a chosen status word).

use cardgate_fuzz_harness::{chunks, Format, Target};

/// xorshift64*: small, fast, and reproducible from `--seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const INTERESTING_8: [u8; 12] = [
    0x00, 0x01, 0x02, 0x0A, 0x10, 0x20, 0x40, 0x7F, 0x80, 0x81, 0xFE, 0xFF,
];
const INTERESTING_16: [u16; 10] = [
    0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF,
];
const STATUS_WORDS: [[u8; 2]; 14] = [
    [0x90, 0x00],
    [0x61, 0x00],
    [0x61, 0x01],
    [0x61, 0xFF],
    [0x6C, 0x00],
    [0x6C, 0x10],
    [0x63, 0xC0],
    [0x63, 0xC2],
    [0x69, 0x83],
    [0x69, 0x82],
    [0x6A, 0x82],
    [0x6A, 0x88],
    [0x67, 0x00],
    [0x65, 0x81],
];

fn flip_bit(rng: &mut Rng, d: &mut [u8]) {
    if !d.is_empty() {
        let i = rng.below(d.len());
        d[i] ^= 1 << rng.below(8);
    }
}

fn set_byte(rng: &mut Rng, d: &mut [u8]) {
    if !d.is_empty() {
        let i = rng.below(d.len());
        d[i] = if rng.one_in(2) {
            INTERESTING_8[rng.below(INTERESTING_8.len())]
        } else {
            rng.byte()
        };
    }
}

fn set_u16(rng: &mut Rng, d: &mut [u8]) {
    if d.len() >= 2 {
        let i = rng.below(d.len() - 1);
        let v = INTERESTING_16[rng.below(INTERESTING_16.len())];
        let bytes = if rng.one_in(2) {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        d[i..i + 2].copy_from_slice(&bytes);
    }
}

fn add_to_byte(rng: &mut Rng, d: &mut [u8]) {
    if !d.is_empty() {
        let i = rng.below(d.len());
        let delta = rng.below(35) as u8;
        d[i] = if rng.one_in(2) {
            d[i].wrapping_add(delta)
        } else {
            d[i].wrapping_sub(delta)
        };
    }
}

fn insert_bytes(rng: &mut Rng, d: &mut Vec<u8>, text: bool) {
    let at = rng.below(d.len() + 1);
    let n = 1 + rng.below(8);
    let fill: Vec<u8> = (0..n)
        .map(|_| {
            if text {
                b' ' + rng.below(95) as u8
            } else {
                rng.byte()
            }
        })
        .collect();
    d.splice(at..at, fill);
}

fn delete_range(rng: &mut Rng, d: &mut Vec<u8>) {
    if !d.is_empty() {
        let at = rng.below(d.len());
        let n = 1 + rng.below((d.len() - at).min(32));
        d.drain(at..at + n);
    }
}

fn duplicate_range(rng: &mut Rng, d: &mut Vec<u8>) {
    if !d.is_empty() {
        let at = rng.below(d.len());
        let n = 1 + rng.below((d.len() - at).min(64));
        let copy = d[at..at + n].to_vec();
        let to = rng.below(d.len() + 1);
        d.splice(to..to, copy);
    }
}

fn splice(rng: &mut Rng, d: &mut Vec<u8>, other: &[u8]) {
    if other.is_empty() {
        return;
    }
    let from = rng.below(other.len());
    let n = 1 + rng.below((other.len() - from).min(256));
    let at = rng.below(d.len() + 1);
    if rng.one_in(2) {
        // Replace our tail with the other's piece (crossover).
        d.truncate(at);
        d.extend_from_slice(&other[from..from + n]);
    } else {
        d.splice(at..at, other[from..from + n].iter().copied());
    }
}

fn dictionary(rng: &mut Rng, d: &mut Vec<u8>, dict: &[&[u8]]) {
    if dict.is_empty() {
        return;
    }
    let token = dict[rng.below(dict.len())];
    let at = rng.below(d.len() + 1);
    if rng.one_in(2) && at + token.len() <= d.len() {
        d[at..at + token.len()].copy_from_slice(token);
    } else {
        d.splice(at..at, token.iter().copied());
    }
}

fn digit_change(rng: &mut Rng, d: &mut [u8]) {
    let digits: Vec<usize> = (0..d.len()).filter(|&i| d[i].is_ascii_digit()).collect();
    if !digits.is_empty() {
        let i = digits[rng.below(digits.len())];
        d[i] = b'0' + rng.below(10) as u8;
    }
}

/// Chunk-aware mutations, keeping the length prefixes right.
fn mutate_chunks(rng: &mut Rng, d: &mut Vec<u8>, offset: usize, other: &[u8], dict: &[&[u8]]) {
    let offset = offset.min(d.len());
    let (head, body) = d.split_at(offset);
    let mut parts: Vec<Vec<u8>> = chunks::split(body).iter().map(|c| c.to_vec()).collect();
    let others: Vec<Vec<u8>> = chunks::split(other.get(offset..).unwrap_or(&[]))
        .iter()
        .map(|c| c.to_vec())
        .collect();
    match rng.below(8) {
        0 if !parts.is_empty() => {
            parts.remove(rng.below(parts.len()));
        }
        1 if !parts.is_empty() => {
            let i = rng.below(parts.len());
            let copy = parts[i].clone();
            parts.insert(rng.below(parts.len() + 1), copy);
        }
        2 if parts.len() >= 2 => {
            let (a, b) = (rng.below(parts.len()), rng.below(parts.len()));
            parts.swap(a, b);
        }
        3 if !others.is_empty() => {
            let piece = others[rng.below(others.len())].clone();
            let at = rng.below(parts.len() + 1);
            if rng.one_in(2) && at < parts.len() {
                parts[at] = piece;
            } else {
                parts.insert(at, piece);
            }
        }
        4 if !parts.is_empty() => {
            // End a chunk with a chosen status word.
            let i = rng.below(parts.len());
            let sw = STATUS_WORDS[rng.below(STATUS_WORDS.len())];
            let p = &mut parts[i];
            if p.len() >= 2 && rng.one_in(2) {
                let n = p.len();
                p[n - 2..].copy_from_slice(&sw);
            } else {
                p.extend_from_slice(&sw);
            }
        }
        5 if !parts.is_empty() => {
            // Truncate or grow one chunk.
            let i = rng.below(parts.len());
            let p = &mut parts[i];
            if rng.one_in(2) {
                let keep = rng.below(p.len() + 1);
                p.truncate(keep);
            } else {
                insert_bytes(rng, p, false);
            }
        }
        _ if !parts.is_empty() => {
            // A byte-level mutation inside one chunk.
            let i = rng.below(parts.len());
            let p = &mut parts[i];
            match rng.below(5) {
                0 => flip_bit(rng, p),
                1 => set_byte(rng, p),
                2 => set_u16(rng, p),
                3 => dictionary(rng, p, dict),
                _ => add_to_byte(rng, p),
            }
        }
        _ => parts.push(vec![0x90, 0x00]),
    }
    let mut out = head.to_vec();
    out.extend(chunks::join(&parts));
    *d = out;
}

/// One mutated child of `parent`, possibly mixed with `other`.
pub fn mutate(rng: &mut Rng, target: &Target, parent: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = parent.to_vec();
    let text = target.format == Format::Text;
    let stack = 1 << rng.below(4);
    for _ in 0..stack {
        if let Format::Chunks { offset } = target.format {
            if rng.one_in(2) {
                mutate_chunks(rng, &mut d, offset, other, target.dictionary);
                continue;
            }
        }
        match rng.below(if text { 11 } else { 10 }) {
            0 => flip_bit(rng, &mut d),
            1 => set_byte(rng, &mut d),
            2 => set_u16(rng, &mut d),
            3 => add_to_byte(rng, &mut d),
            4 => insert_bytes(rng, &mut d, text),
            5 => delete_range(rng, &mut d),
            6 => duplicate_range(rng, &mut d),
            7 => splice(rng, &mut d, other),
            8 | 9 => dictionary(rng, &mut d, target.dictionary),
            _ => digit_change(rng, &mut d),
        }
    }
    d.truncate(target.max_len);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_mutations_keep_prefixes_consistent() {
        let target =
            cardgate_fuzz_harness::target("card_login").unwrap_or_else(|| panic!("no target"));
        let parent = chunks::join(&[&b"atr"[..], b"\x90\x00", b"abc\x90\x00"]);
        let mut rng = Rng::new(1);
        for _ in 0..2000 {
            let mut d = parent.clone();
            mutate_chunks(&mut rng, &mut d, 0, &parent, target.dictionary);
            // Re-joining what split reads gives the same bytes: no dangling prefix.
            let again = chunks::join(&chunks::split(&d));
            assert_eq!(again, d);
        }
    }
}
