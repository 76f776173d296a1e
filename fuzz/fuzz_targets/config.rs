//! Fuzz target: config.json → validated spec → plan (and the cgroup create plan) on v1, hybrid and v2 hosts.
//! No panic, no hang; a refused input gives a one-line error (see sangja::fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sangja::fuzz::config(data);
});
