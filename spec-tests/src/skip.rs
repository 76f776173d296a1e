//! Recorded skips: how a test says "could not check X on this host because Y".
//!
//! libtest has no notion of a skipped test: a test that returns early is reported `ok`, so a check that
//! never ran looks like one that passed. Every test that cannot check its subject on the host it runs on
//! says so through [`skip!`](crate::skip) (the whole test) or [`unchecked!`](crate::unchecked) (one part
//! of it, the rest still runs). Both print the reason and append one line to the skip record, which
//! `.ci/test` prints after the run and compares with the skips expected on the CI machine
//! (`.ci/expected-skips`): a skip that is not expected fails the run.
//!
//! The record is `$SANGJA_TEST_SKIPS` if set, else `test-skips.tsv` in cargo's target directory (found
//! from the test executable's path, `<target>/<profile>/deps/<test>-<hash>`). One line per skip, tab
//! separated: the test (`<target>::<module path>::<function>`), what was not checked, and why. Lines are
//! appended with one `write` on an `O_APPEND` file, so concurrent tests and test binaries do not
//! interleave them.

use std::io::Write;
use std::path::PathBuf;

/// The skip record's path (see the module docs).
pub fn record_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SANGJA_TEST_SKIPS") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // <target>/<profile>/deps/<name>-<hash>: three levels up is the target directory.
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("test-skips.tsv")
}

/// The test target's name: the executable's file name without cargo's `-<hash>`.
fn target_name() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    }
}

/// The test's full name, `<target>::<test>`: libtest runs each test on a thread named after it, which
/// also holds inside helpers the test calls; `here` (the path of a function defined where the macro was
/// used, `crate::module::test::here`) stands in where the thread has no name.
pub fn test_path(here: &str) -> String {
    let thread = std::thread::current();
    let name = match thread.name() {
        Some(n) if n != "main" => n.to_string(),
        _ => {
            let path = here.strip_suffix("::here").unwrap_or(here);
            // Drop the crate name (the target's, or `sangja` for unit tests): the target says it.
            path.split_once("::")
                .map_or(path, |(_, rest)| rest)
                .to_string()
        }
    };
    format!("{}::{name}", target_name())
}

/// Records that `test` could not check `subject` on this host because of `reason`. Used by
/// [`skip!`](crate::skip) and [`unchecked!`](crate::unchecked); panics if the record cannot be written,
/// since an unrecorded skip is the failure this module exists to prevent.
pub fn record(test: &str, subject: &str, reason: &str) {
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    let line = format!("{}\t{}\t{}\n", clean(test), clean(subject), clean(reason));
    eprintln!("SKIPPED {test}: could not check {subject}: {reason}");
    let path = record_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("cannot record a skip in {}: {e}", path.display());
    }
}

/// One recorded skip, as read back from the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// `<target>::<module path>::<function>`.
    pub test: String,
    /// What was not checked.
    pub subject: String,
    /// Why not.
    pub reason: String,
}

/// Parses the record's text (lines that do not have three fields are ignored).
pub fn parse(text: &str) -> Vec<Skip> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            Some(Skip {
                test: f.next()?.to_string(),
                subject: f.next()?.to_string(),
                reason: f.next()?.to_string(),
            })
        })
        .collect()
}

/// Ends the enclosing test, recording that it could not check its subject on this host:
/// `skip!("blkio.weight", "the kernel has no BFQ")`. The reason may be a format string with arguments.
#[macro_export]
macro_rules! skip {
    ($subject:expr, $($reason:tt)+) => {{
        $crate::unchecked!($subject, $($reason)+);
        return;
    }};
}

/// Records that one part of the enclosing test could not be checked on this host (the rest of the
/// test goes on): `unchecked!("blkio throttles", "no whole disk in /sys/block")`.
#[macro_export]
macro_rules! unchecked {
    ($subject:expr, $($reason:tt)+) => {{
        fn here() {}
        $crate::skip::record(
            &$crate::skip::test_path(::std::any::type_name_of_val(&here)),
            &$subject,
            &format!($($reason)+),
        );
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_path_is_the_target_and_the_test_threads_name() {
        let p = test_path("spec_tests::skip::tests::elsewhere::here");
        assert!(
            p.ends_with("::skip::tests::test_path_is_the_target_and_the_test_threads_name"),
            "{p}"
        );
        let p = std::thread::Builder::new()
            .name("main".into())
            .spawn(|| test_path("spec_tests::a::b::here"))
            .expect("spawn")
            .join()
            .expect("join");
        assert!(p.ends_with("::a::b"), "{p}");
    }

    #[test]
    fn parse_reads_three_fields() {
        let s = parse("a::b\tblkio.weight\tno BFQ\nbroken line\n");
        assert_eq!(
            s,
            vec![Skip {
                test: "a::b".into(),
                subject: "blkio.weight".into(),
                reason: "no BFQ".into()
            }]
        );
    }
}
