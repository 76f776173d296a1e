//! Fuzz target: an `update --resources` document → the cgroup write plan on v1, hybrid and v2.
//! No panic, no hang; a refused input gives a one-line error (see sangja::fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sangja::fuzz::update(data);
});
