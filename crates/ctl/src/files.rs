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
