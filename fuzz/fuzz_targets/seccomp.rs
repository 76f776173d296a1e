//! Fuzz target: a linux.seccomp object → the compiled BPF program (never loaded).
//! No panic, no hang; a refused input gives a one-line error (see sangja::fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sangja::fuzz::seccomp(data);
});
