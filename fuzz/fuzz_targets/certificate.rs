//! libFuzzer entry point for the `certificate` harness (see `harness/src/lib.rs`).
//!
//! No `forbid(unsafe_code)` here: `fuzz_target!` emits the `#[no_mangle]` entry point that
//! libFuzzer calls. The harness it calls forbids unsafe code.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cardgate_fuzz_harness::fuzz_certificate(data);
});
