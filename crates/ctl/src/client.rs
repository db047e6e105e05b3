//! Talking to `cardgated` over its local sockets: one JSON request line, one answer line.

use crate::files::CmdError;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The largest answer we read.
const MAX_ANSWER: u64 = 1024 * 1024;

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not running, or the socket is not ours to use.
    #[error("cannot reach cardgated at {path}")]
    Unreachable {
        /// The socket.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It answered something we cannot read.
    #[error("cardgated sent an unreadable answer")]
    BadAnswer(#[source] serde_json::Error),
    /// I/O after connecting.
    #[error("talking to cardgated failed")]
    Io(#[source] std::io::Error),
}

/// Sends one request and returns the answer.
pub fn ask(socket: &Path, request: &Value) -> Result<Value, ClientError> {
    let mut line = serde_json::to_vec(request).map_err(ClientError::BadAnswer)?;
    line.push(b'\n');
    ask_raw(socket, &line)
}

/// Sends one request line (with its newline) and returns the answer.
pub fn ask_raw(socket: &Path, line: &[u8]) -> Result<Value, ClientError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Unreachable {
        path: socket.display().to_string(),
        source,
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(ClientError::Io)?;
    stream.write_all(line).map_err(ClientError::Io)?;
    let mut out = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut out)
        .map_err(ClientError::Io)?;
    serde_json::from_slice(&out).map_err(ClientError::BadAnswer)
}

/// The daemon's answer as a result: `error` and `denied` become errors with their message.
pub fn expect_ok(answer: Value) -> Result<Value, CmdError> {
    match answer["result"].as_str() {
        Some("error") | Some("denied") => Err(answer["message"]
            .as_str()
            .unwrap_or("refused")
            .to_owned()
            .into()),
        _ => Ok(answer),
    }
}
