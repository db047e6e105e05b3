//! Outcome classes: a coarse, stable hash of "what happened" for an input, which a
//! coverage-less engine uses as feedback (an input that produces a new class is kept).

/// FNV-1a, enough for bucketing.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The class of a `Debug` rendering: digits dropped (so that lengths and positions do not
/// make every input new) and cut at 48 characters (so that fuzzed text inside an error does
/// not either).
pub fn of_debug(shown: &str) -> u64 {
    let kept: String = shown
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(48)
        .collect();
    fnv(kept.as_bytes())
}

/// Combines classes.
pub fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0u64, |h, &p| {
        (h.rotate_left(17) ^ p).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    })
}
