//! `cargo xtask demo`: one operator card's story, told so that a person can follow it.
//!
//! The demo is `cardgate-demo` (`demo/`): the access manager lends a card, the operator logs
//! in through PAM and changes the initial PIN, the card is pulled and the session locks, three
//! wrong PINs block the card, the PUK unblocks it, the card is reported lost and revoked, the
//! next login is refused before the PIN is asked, and the audit log is verified and reviewed.
//! All of it through the real stack (a private pcscd with a vpcd reader, `cardgated`,
//! `cardgatectl`, `pam_cardgate.so` under pamtester), on the test harness's standard office.
//! It needs root for its private namespaces, like the tests.

/// Builds the workspace's binaries and the PAM module (the demo starts them), then runs the
/// demo.
pub fn run() -> Result<(), String> {
    crate::run(
        &std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        &["build", "--quiet", "--workspace", "--bins", "--lib"],
    )?;
    let demo = crate::root()
        .join("target")
        .join("debug")
        .join("cardgate-demo");
    crate::run(&demo.to_string_lossy(), &[])
}
