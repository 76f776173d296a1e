//! The monotonic clock, read without allocating: timestamps taken in the init and in the runtime
//! line up (`--trace`).

/// `CLOCK_MONOTONIC` in nanoseconds (async-signal-safe: usable in the init).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists, so the call cannot fail
    // and leaves ts set.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monotonic_clock_does_not_go_back() {
        let a = monotonic_ns();
        assert!(a > 0);
        assert!(monotonic_ns() >= a);
    }
}
