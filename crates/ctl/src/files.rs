//! File helpers shared by the commands: atomic writes and bounded reads.

use std::error::Error;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
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

/// Atomic writes, the same as the daemon's.
pub use cardgate_sessiond::register::write_atomic;

/// Reads a whole file, refusing one larger than `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    if len > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is {len} bytes, over the {cap}-byte limit",
                path.display()
            ),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(cap + 1).read_to_end(&mut out)?;
    Ok(out)
}

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
