use std::path::PathBuf;

/// Why the harness could not set up or drive the test environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The harness needs root (user and mount namespaces, tmpfs mounts).
    #[error("the PC/SC test harness must run as root (it creates network and mount namespaces for a private pcscd); run the tests as root, e.g. in the project's CI container")]
    NotRoot,
    /// A system program the harness needs is missing.
    #[error("`{program}` is not installed; install the Debian package `{package}` (.ci/run does)")]
    MissingProgram {
        /// The program.
        program: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A binary of this workspace is missing or older than its sources.
    #[error("{path} is {problem}; build it first with `cargo build -p {package}` (`cargo xtask test` does)")]
    Binary {
        /// Where it was looked for.
        path: PathBuf,
        /// Missing or stale.
        problem: &'static str,
        /// The package to build.
        package: &'static str,
    },
    /// vpcd gives one configuration entry two slots; more entries collide in its slot table.
    #[error("a lab has 1 or 2 readers (vpcd supports two slots per pcscd), not {0}")]
    ReaderCount(usize),
    /// A process could not be started or signalled.
    #[error("could not run {what}")]
    Spawn {
        /// What.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// A command the harness ran failed.
    #[error("{what} failed: {detail}")]
    CommandFailed {
        /// Which command.
        what: String,
        /// Its exit status and error output.
        detail: String,
    },
    /// A PC/SC call the harness made failed.
    #[error("PC/SC failure while {what}")]
    Pcsc {
        /// What the harness was doing.
        what: &'static str,
        /// Why.
        #[source]
        source: cardgate_reader::TransportError,
    },
    /// A card image could not be written.
    #[error("cannot write the card image {path}")]
    Image {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: cardgate_sim::ImageError,
    },
    /// A test card could not be issued.
    #[error("could not issue the test card")]
    CreateCard(#[source] cardgate_sim::CreateCardError),
    /// A test card's PIN or PUK is not valid.
    #[error("the test card's {0} is not valid")]
    BadSecret(&'static str),
    /// An issuer key could not be made.
    #[error("could not create the issuer key")]
    IssuerKey(#[source] cardgate_card::issuer::IssuerKeyError),
    /// The virtual OpenPGP card (`tools/opcard-virt`, its own workspace) is missing or
    /// older than its sources.
    #[error("{path} is {problem}; build it first with `{build}` (`cargo xtask test` does)")]
    OpcardVirtBinary {
        /// Where it was looked for.
        path: PathBuf,
        /// Missing or stale.
        problem: &'static str,
        /// The build command.
        build: &'static str,
    },
}
