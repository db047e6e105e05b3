//! The PIN policy for a new PIN (art. 5.5 and 6.1).
//!
//! The card enforces only the format (6–16 letters and digits, at least one of each). When a
//! PIN is *set or changed*, cardgate also refuses PINs that are easy to guess:
//!
//! * the operator's own ID inside the PIN;
//! * a single repeated character, or a keyboard, alphabet or number run, alone or as two
//!   such pieces (`aaaaa1`, `abc123`, `aaa111`, `qwerty1`, `987zyx`);
//! * any entry of the built-in blocklist of common passwords (case-insensitive);
//! * the current PIN again.
//!
//! Every refusal has its own message, and no message repeats the PIN.

use crate::secret::{check_pin_format, Pin, SecretFormatError};
use std::collections::HashSet;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// The blocklist, shipped in the crate.
pub const BLOCKLIST_TEXT: &str = include_str!("../data/pin-blocklist.txt");

/// Sequences a "run" may follow, forwards or backwards: the alphabet, the digits in counting
/// order and in keyboard order (`7890`), and the three letter rows of a QWERTY keyboard.
const SEQUENCES: [&[u8]; 6] = [
    b"abcdefghijklmnopqrstuvwxyz",
    b"0123456789",
    b"1234567890",
    b"qwertyuiop",
    b"asdfghjkl",
    b"zxcvbnm",
];

/// The shortest operator ID we look for inside a PIN; shorter IDs would refuse too much.
pub const MIN_OPERATOR_ID_MATCH: usize = 3;

/// Why a new PIN was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The card's format.
    #[error("the PIN {0}")]
    Format(#[from] SecretFormatError),
    /// The operator ID appears in the PIN.
    #[error("the PIN must not contain your operator ID")]
    ContainsOperatorId,
    /// Repeated characters or runs only.
    #[error("the PIN must not be a repeated character or a keyboard, alphabet or number run, alone or two of them together")]
    RepeatOrRun,
    /// On the list of common passwords.
    #[error("the PIN is on the list of commonly used passwords")]
    Blocklisted,
    /// The same as the current PIN.
    #[error("the new PIN must differ from the current PIN")]
    SameAsCurrent,
}

fn blocklist() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        BLOCKLIST_TEXT
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Number of entries in the built-in blocklist.
pub fn blocklist_len() -> usize {
    blocklist().len()
}

/// True when `piece` (lower case, ASCII) is one character repeated, or a stretch of one of
/// [`SEQUENCES`] read forwards or backwards.
fn is_repeat_or_run(piece: &[u8]) -> bool {
    let Some((&first, rest)) = piece.split_first() else {
        return false;
    };
    if rest.iter().all(|&c| c == first) {
        return true;
    }
    let backwards: Vec<u8> = piece.iter().rev().copied().collect();
    SEQUENCES.iter().any(|seq| {
        seq.windows(piece.len())
            .any(|w| w == piece || w == backwards.as_slice())
    })
}

/// True when the PIN splits into at most two pieces that are each a repeat or a run.
fn is_trivial_pattern(lower: &[u8]) -> bool {
    is_repeat_or_run(lower)
        || (1..lower.len()).any(|k| is_repeat_or_run(&lower[..k]) && is_repeat_or_run(&lower[k..]))
}

fn normalise_id(operator_id: &str) -> Vec<String> {
    let lower = operator_id.to_ascii_lowercase();
    let alnum: String = lower.chars().filter(char::is_ascii_alphanumeric).collect();
    [lower, alnum]
        .into_iter()
        .filter(|s| s.len() >= MIN_OPERATOR_ID_MATCH)
        .collect()
}

/// Checks a candidate new PIN; on success returns it as a [`Pin`].
pub fn check_new_pin(candidate: &str, operator_id: Option<&str>) -> Result<Pin, PolicyError> {
    check_pin_format(candidate)?;
    let lower = Zeroizing::new(candidate.to_ascii_lowercase());
    if let Some(id) = operator_id {
        if normalise_id(id)
            .iter()
            .any(|id| lower.contains(id.as_str()))
        {
            return Err(PolicyError::ContainsOperatorId);
        }
    }
    if is_trivial_pattern(lower.as_bytes()) {
        return Err(PolicyError::RepeatOrRun);
    }
    if blocklist().contains(lower.as_str()) {
        return Err(PolicyError::Blocklisted);
    }
    Ok(Pin::parse(candidate)?)
}

/// Checks a PIN change: the new PIN passes [`check_new_pin`] and differs from the current one
/// (compared in constant time).
pub fn check_pin_change(
    current: &Pin,
    candidate: &str,
    operator_id: Option<&str>,
) -> Result<Pin, PolicyError> {
    let new = check_new_pin(candidate, operator_id)?;
    if crate::ct_eq(&current.to_wire()[..], &new.to_wire()[..]) {
        return Err(PolicyError::SameAsCurrent);
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples_from_the_issue() {
        for weak in [
            "abc123", "aaa111", "qwerty1", "aaaaa1", "987zyx", "123abc", "zyx987", "1111aa",
            "asdfgh1", "poiuy7",
        ] {
            assert_eq!(
                check_new_pin(weak, None).unwrap_err(),
                PolicyError::RepeatOrRun,
                "{weak}"
            );
        }
        assert_eq!(
            check_new_pin("password1", None).unwrap_err(),
            PolicyError::Blocklisted
        );
        assert_eq!(
            check_new_pin("PassWord1", None).unwrap_err(),
            PolicyError::Blocklisted
        );
        assert_eq!(
            check_new_pin("xop0042kq", Some("op-0042")).unwrap_err(),
            PolicyError::ContainsOperatorId
        );
        assert_eq!(
            check_new_pin("short", None).unwrap_err(),
            PolicyError::Format(SecretFormatError::TooShort { min: 6, len: 5 })
        );
        assert!(check_new_pin("Tanuki42x", Some("op-0042")).is_ok());
        assert!(check_new_pin("h7Kd9mQ2", None).is_ok());
        assert!(blocklist_len() >= 1000);
    }

    #[test]
    fn change_must_differ() {
        let current = Pin::parse("h7Kd9mQ2").unwrap();
        assert_eq!(
            check_pin_change(&current, "h7Kd9mQ2", None).unwrap_err(),
            PolicyError::SameAsCurrent
        );
        assert!(check_pin_change(&current, "h7Kd9mQ3", None).is_ok());
    }

    #[test]
    fn messages_never_echo_the_pin() {
        for pin in ["xyz987", "password1", "xop0042kq", "ab1", "h7Kd9mQ2x!"] {
            if let Err(e) = check_new_pin(pin, Some("op-0042")) {
                assert!(!e.to_string().contains(pin), "{e}");
            }
        }
    }

    // ---- An oracle written independently of the code above. ----

    const ROWS: [&str; 6] = [
        "abcdefghijklmnopqrstuvwxyz",
        "0123456789",
        "1234567890",
        "qwertyuiop",
        "asdfghjkl",
        "zxcvbnm",
    ];

    fn oracle_piece(p: &str) -> bool {
        if p.is_empty() {
            return false;
        }
        if p.chars().collect::<HashSet<_>>().len() == 1 {
            return true;
        }
        ROWS.iter().any(|row| {
            let rev: String = row.chars().rev().collect();
            row.contains(p) || rev.contains(p)
        })
    }

    fn oracle(pin: &str, id: &str) -> bool {
        let n = pin.chars().count();
        if !(6..=16).contains(&n) || !pin.chars().all(|c| c.is_ascii_alphanumeric()) {
            return false;
        }
        if !pin.chars().any(|c| c.is_ascii_digit()) || !pin.chars().any(|c| c.is_ascii_alphabetic())
        {
            return false;
        }
        let low = pin.to_lowercase();
        let id_low = id.to_lowercase();
        let id_alnum: String = id_low
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        if (id_low.len() >= 3 && low.contains(&id_low))
            || (id_alnum.len() >= 3 && low.contains(&id_alnum))
        {
            return false;
        }
        for k in 0..=low.len() {
            let (a, b) = low.split_at(k);
            if (a.is_empty() || oracle_piece(a)) && (b.is_empty() || oracle_piece(b)) {
                return false;
            }
        }
        let list: HashSet<String> = BLOCKLIST_TEXT
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.trim().to_lowercase())
            .collect();
        !list.contains(&low)
    }

    fn candidate() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-zA-Z0-9]{1,6}",
            "(abc|xyz|qwe|rty|asd|zxc|123|789|890|012|321|aaa|111|zz|99)",
            "(password|dragon|monkey|sakura|op7|Op7)",
            "[ -~]{1,3}",
            "[あ-ん]{1,2}",
        ];
        proptest::collection::vec(piece, 1..5).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn policy_agrees_with_oracle(pin in candidate(), id in "(op7|x|sakura[0-9]|op-7)") {
            let accepted = check_new_pin(&pin, Some(&id)).is_ok();
            prop_assert_eq!(accepted, oracle(&pin, &id), "pin {:?} id {:?}", pin, id);
        }

        #[test]
        fn blocklisted_entries_are_refused(i in 0usize..3000) {
            let entries: Vec<&str> = BLOCKLIST_TEXT.lines().filter(|l| !l.starts_with('#')).collect();
            let e = entries[i % entries.len()];
            prop_assert!(check_new_pin(&e.to_uppercase(), None).is_err());
        }
    }
}
