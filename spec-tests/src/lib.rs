//! Black-box runtime-spec conformance tests for the `sangja` binary.
//!
//! The test files live in `spec-tests/tests/` but are declared as test targets of the `sangja-shim` package
//! (see `shim/Cargo.toml`), so cargo builds the `sangja` binary first and hands its path to the tests as
//! `CARGO_BIN_EXE_sangja`. This crate holds what they share:
//!
//! - [`rootfs`]: a busybox-static rootfs built once per uid from the host's `/bin/busybox`;
//! - [`Harness`]: a private `--root`, unique ids, bundles ([`Bundle`], a `runc spec` config edited as JSON),
//!   commands with captured output ([`Output`]), and cleanup on drop, even after a panic;
//! - [`leftovers`]: the "nothing left behind" check (state dir, cgroups, mounts, processes);
//! - [`host`]: mountinfo, namespace and cgroup readers;
//! - [`console`]: a `--console-socket` receiver and pty helpers;
//! - [`dockerd`], [`containerd`], [`podman`]: private Docker, containerd and podman setups for the client
//!   tests and the benchmark ([`daemon`]: their cleanup; [`image`]: busybox images built offline);
//! - [`seccomp`]: a raw-syscall probe (x86_64, x32, i386) and Docker's/podman's default profiles;
//! - [`skip`]: recorded skips ([`skip!`], [`unchecked!`]): what a test could not check on this host, and why.
//!
//! Every test needs root. `SANGJA_BIN=/path/to/runtime` tests another binary (e.g. `/usr/sbin/runc`).
//!
//! ```ignore
//! # // in a test file declared as a [[test]] of sangja-shim:
//! let h = spec_tests::harness!();
//! let mut b = h.bundle();
//! assert_eq!(h.sh(&mut b, "echo $$").trim(), "1");
//! ```

pub mod config;
pub mod console;
pub mod containerd;
pub mod daemon;
pub mod dockerd;
pub mod guest;
pub mod harness;
pub mod host;
pub mod image;
pub mod leftovers;
pub mod output;
pub mod podman;
pub mod rootfs;
pub mod seccomp;
pub mod skip;
pub mod vm;

pub use harness::{runc_bin, sangja_bin, test_name, Bundle, CmdOpts, Container, Harness};
pub use leftovers::assert_nothing_left;
pub use output::Output;

/// A [`Harness`] for the `sangja` binary cargo built (or `$SANGJA_BIN`), named after the enclosing test.
/// Only usable from a test target of the `sangja-shim` package.
#[macro_export]
macro_rules! harness {
    () => {{
        fn here() {}
        $crate::Harness::new(
            &$crate::sangja_bin(env!("CARGO_BIN_EXE_sangja")),
            &$crate::test_name(::std::any::type_name_of_val(&here)),
        )
    }};
}

/// Harnesses for sangja and, where runc is installed, for runc too (both named after the
/// enclosing test): for the tests that run a case against both and expect the same outcome.
#[macro_export]
macro_rules! sangja_and_runc {
    () => {{
        fn here() {}
        let name = $crate::test_name(::std::any::type_name_of_val(&here));
        let mut all = vec![$crate::Harness::new(
            &$crate::sangja_bin(env!("CARGO_BIN_EXE_sangja")),
            &name,
        )];
        if $crate::runc_bin().exists() {
            all.push($crate::Harness::runc(&name));
        }
        all
    }};
}

/// A [`Harness`] for runc, named after the enclosing test. Panics if runc is not installed.
#[macro_export]
macro_rules! runc_harness {
    () => {{
        fn here() {}
        $crate::Harness::runc(&$crate::test_name(::std::any::type_name_of_val(&here)))
    }};
}

/// Seconds, as a [`std::time::Duration`] (keeps test bodies short).
pub fn secs(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}
