//! Everything cardgate says to a person, in Japanese and English.
//!
//! The town hall's administrator and its access manager read Japanese; the PAM prompts, the
//! `cardgatectl` messages and help, and the review all come from one set of
//! [Project Fluent](https://projectfluent.org/) catalogues (`locales/{ja,en}/*.ftl`), compiled
//! into the binaries so that nothing is read from disk at run time (a login must not depend on
//! a file a local user could replace). Fluent rather than match tables: translators edit
//! plain files, plurals and arguments are the language's business, and a test
//! (`catalogues_match`) proves that both languages have the same messages with the same
//! arguments.
//!
//! [`Lang`] picks the language (`--lang`, or the POSIX locale variables); [`Catalogue`] formats
//! one message; [`tr!`] is the short form; [`table`] lays out columns by display width, so
//! that Japanese text (two columns a character) lines up.
#![forbid(unsafe_code)]

mod catalogue;
mod lang;
pub mod roff;
pub mod table;

pub use catalogue::{catalogue, Args, Catalogue, RESOURCES};
pub use lang::{Lang, LangError};

/// Formats the message `id` of the catalogue of `lang`, with optional `name = value` arguments:
/// `tr!(lang, "card-revoked", serial = s.to_string(), version = 7)`.
#[macro_export]
macro_rules! tr {
    ($lang:expr, $id:expr) => {
        $crate::catalogue($lang).text($id)
    };
    ($lang:expr, $id:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::catalogue($lang).format(
            $id,
            &$crate::Args::new()$(.with(stringify!($name), $value))+,
        )
    };
}
