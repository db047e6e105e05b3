//! The messages on cardgated's two Unix sockets, typed once for the daemon, the PAM module
//! and `cardgatectl`.
//!
//! One request per connection: a JSON object on one line, capped in size, then one answer
//! line back. The login socket takes [`LoginRequest`]s, the admin socket [`AdminRequest`]s;
//! both answer with an [`Answer`].
//!
//! * A PIN travels only inside a [`PinField`]: deserialised once into a zeroizing string,
//!   shown as `REDACTED`, and serialised only by [`encode_request`], which writes the whole
//!   line into a wiped-on-drop buffer sized before it is written (so it never moves and leaves
//!   no copy behind).
//! * Why a request was refused is a [`DenyCode`], one enum for every refusal; a client that
//!   reads a code it does not know gets an error, never a grant (fail closed).
//! * Serials, roles, revocation reasons, note kinds and the manager-refusal reasons are typed
//!   ([`Serial`], [`Role`], [`RevocationReason`], [`NoteKind`], [`ManagerRefusal`]): a bad
//!   value is refused when the line is parsed, with the same wire strings as before the types.
#![forbid(unsafe_code)]

mod answer;
mod codec;
mod deny;
mod request;
mod secret;
mod types;

pub use answer::{
    Answer, EndReason, Info, Recorded, SessionInfo, SessionState, Status, TerminalInfo,
};
pub use codec::{
    encode_answer, encode_request, parse_answer, parse_request, AnswerError, EncodeError,
    RequestError, WireRequest, MAX_ADMIN_ANSWER_BYTES, MAX_ANSWER_BYTES,
};
pub use deny::DenyCode;
pub use request::{AdminRequest, LoginRequest};
pub use secret::PinField;
pub use types::{
    ManagerRefusal, NoteKind, RevocationReason, Role, Serial, SerialError, UnknownValue,
};

#[cfg(test)]
mod tests;
