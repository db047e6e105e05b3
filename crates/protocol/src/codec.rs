//! Lines on the wire: requests and answers in and out, each capped in size.

use crate::answer::Answer;
use crate::request::{AdminRequest, LoginRequest};
use crate::secret::EncodingPins;
use serde::{Deserialize, Serialize};
use std::io::Write;
use zeroize::Zeroizing;

/// The longest answer a client reads on the login socket.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// The longest answer a client reads on the admin socket (a `sessions` list grows with the
/// sessions).
pub const MAX_ADMIN_ANSWER_BYTES: usize = 1024 * 1024;

/// Why a request line was refused before it was understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Over the size cap.
    #[error("request exceeds {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Not one of our messages. (serde's message may quote a value from the line, which may
    /// hold a PIN: show the category and position only, see [`RequestError::describe`].)
    #[error("malformed request")]
    Malformed(#[source] serde_json::Error),
}

impl RequestError {
    /// What was wrong, for the client, without quoting anything from the request: serde's own
    /// message can quote a value (a number, say), and a request may carry a PIN.
    pub fn describe(&self) -> String {
        match self {
            RequestError::Malformed(inner)
                if inner.is_data() || inner.is_syntax() || inner.is_eof() =>
            {
                format!(
                    "{:?} error at line {} column {}",
                    inner.classify(),
                    inner.line(),
                    inner.column()
                )
            }
            RequestError::Malformed(_) => String::from("unreadable"),
            RequestError::TooLarge { limit } => format!("over {limit} bytes"),
        }
    }
}

/// Parses one request line, after checking its size.
pub fn parse_request<T: for<'de> Deserialize<'de>>(
    line: &[u8],
    limit: usize,
) -> Result<T, RequestError> {
    if line.len() > limit {
        return Err(RequestError::TooLarge { limit });
    }
    serde_json::from_slice(line).map_err(RequestError::Malformed)
}

/// A request could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// serde_json refused it (it names the field, never a PIN's value).
    #[error("cannot encode the {what}")]
    Json {
        /// "request" or "answer".
        what: &'static str,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The requests [`encode_request`] writes: those of the two sockets.
pub trait WireRequest: Serialize + sealed::Sealed {}

impl WireRequest for LoginRequest {}
impl WireRequest for AdminRequest {}

mod sealed {
    /// Only this crate's requests are [`super::WireRequest`]s.
    pub trait Sealed {}
    impl Sealed for crate::request::LoginRequest {}
    impl Sealed for crate::request::AdminRequest {}
}

/// Counts what serde_json would write, to size the real buffer before a PIN goes into it.
struct Count(usize);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The request line, newline included, in a buffer that is wiped when it drops. The line is
/// measured first and the buffer reserved at exactly its size, so it is never grown: a `Vec`
/// that grows copies its contents and frees the old block unwiped, with the PIN in it.
pub fn encode_request<R: WireRequest>(request: &R) -> Result<Zeroizing<Vec<u8>>, EncodeError> {
    let _pins = EncodingPins::allow();
    let err = |source| EncodeError::Json {
        what: "request",
        source,
    };
    let mut count = Count(0);
    serde_json::to_writer(&mut count, request).map_err(err)?;
    let mut line = Zeroizing::new(Vec::with_capacity(count.0 + 1));
    serde_json::to_writer(&mut *line, request).map_err(err)?;
    line.push(b'\n');
    Ok(line)
}

/// The answer line, newline included.
pub fn encode_answer(answer: &Answer) -> Result<Vec<u8>, EncodeError> {
    let mut line = serde_json::to_vec(answer).map_err(|source| EncodeError::Json {
        what: "answer",
        source,
    })?;
    line.push(b'\n');
    Ok(line)
}

/// Why a client could not read the daemon's answer. Every one of them is a refusal to the
/// caller: nothing unreadable is ever taken for a grant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// Over the size cap.
    #[error("cardgated's answer exceeds {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The daemon closed the connection without answering.
    #[error("cardgated closed the connection without an answer")]
    Empty,
    /// Not one of the daemon's answers (an unknown result, an unknown deny code, a missing
    /// field, not JSON).
    #[error("cardgated's answer is not understood: {0}")]
    Malformed(#[source] serde_json::Error),
}

/// Parses the daemon's answer: its first line, after checking that what was read is at most
/// `limit` bytes ([`MAX_ANSWER_BYTES`] or [`MAX_ADMIN_ANSWER_BYTES`]).
pub fn parse_answer(bytes: &[u8], limit: usize) -> Result<Answer, AnswerError> {
    if bytes.len() > limit {
        return Err(AnswerError::TooLarge { limit });
    }
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(AnswerError::Empty);
    }
    serde_json::from_slice(line).map_err(AnswerError::Malformed)
}
