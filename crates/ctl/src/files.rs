//! File helpers shared by the commands: atomic writes and bounded reads.

use std::error::Error;
use std::io::{self, Read};
use zeroize::Zeroizing;

/// The boxed error every command returns.
pub type CmdError = Box<dyn Error + Send + Sync + 'static>;

/// An error with its whole chain of causes, for one line on stderr.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Atomic writes and capped reads, the same as the daemon's.
pub use cardgate_office::files::{read_capped, write_atomic};

/// Reads one secret line from stdin (at most 1 KiB), without its line ending. Only that line
/// is consumed, so several secrets can be read one after another.
pub fn read_secret_line() -> io::Result<Zeroizing<String>> {
    use std::io::BufRead;
    let mut buf = Zeroizing::new(Vec::with_capacity(64));
    io::stdin().lock().take(1024).read_until(b'\n', &mut buf)?;
    let line = buf.strip_suffix(b"\n").unwrap_or(&buf[..]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the secret is not valid UTF-8"))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// A Unix time as RFC 3339 in UTC (`2026-12-01T00:30:00Z`), for JSON (`null` when out of
/// range): the one form docs/cli.md gives for every time in a JSON shape, next to its Unix
/// seconds; the text output shows the same instant in the office's zone (`Ui::time`).
pub fn json_time(unix: i64) -> serde_json::Value {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(serde_json::Value::Null, serde_json::Value::String)
}

/// An I/O failure on `path`, named, in the user's language: a missing file is
/// [`Exit::NotFound`](crate::exit::Exit::NotFound), a refused one
/// [`Exit::Refused`](crate::exit::Exit::Refused), anything else
/// [`Exit::Failed`](crate::exit::Exit::Failed).
pub fn io_failure(
    lang: cardgate_i18n::Lang,
    path: &std::path::Path,
    e: &io::Error,
) -> crate::exit::Failure {
    use crate::exit::{Exit, Failure};
    use cardgate_i18n::tr;
    let shown = path.display().to_string();
    match e.kind() {
        io::ErrorKind::NotFound => Failure::new(
            Exit::NotFound,
            tr!(lang, "ctl-state-not-found", path = shown),
        )
        .hint(tr!(lang, "ctl-state-not-found-hint")),
        io::ErrorKind::PermissionDenied => Failure::new(
            Exit::Refused,
            tr!(lang, "ctl-state-forbidden", path = shown),
        )
        .hint(tr!(lang, "ctl-state-forbidden-hint")),
        _ => Failure::new(
            Exit::Failed,
            tr!(lang, "ctl-state-io", path = shown, error = e.to_string()),
        ),
    }
}
