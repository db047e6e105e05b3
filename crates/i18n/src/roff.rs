//! Text for the manual pages (`cardgated.8`, `cardgatectl.1`): the sections clap_mangen knows
//! nothing of are written by hand from the catalogues, and must reach `man` as plain text.

/// Roff-escapes one line of text: backslashes and hyphens, and a leading `.` or `'`, which
/// roff would read as a request.
pub fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_hyphens_and_backslashes_are_escaped() {
        assert_eq!(escape(".SH x"), "\\&.SH x");
        assert_eq!(escape("'x"), "\\&'x");
        assert_eq!(escape("a-b\\c"), "a\\-b\\\\c");
        assert_eq!(escape("暗証番号"), "暗証番号");
    }
}
