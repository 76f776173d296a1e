//! Smoke test of the benchmark program (issue 8): it runs a tiny round against sangja and writes
//! its report. Speed is never asserted here — the benchmark reports it; this only checks that the
//! benchmark works. Needs root (it runs containers), like the spec tests.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn benchmark_runs_two_rounds_and_writes_its_report() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_sangja-bench"));
    // `cargo test --workspace` builds the runtime into the same target directory.
    let sangja = bench.with_file_name("sangja");
    assert!(
        sangja.exists(),
        "{} is missing: run the workspace's tests (`cargo test --workspace`), which build it",
        sangja.display()
    );
    let out = std::env::temp_dir().join(format!("sangja-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(&bench)
        .args([
            "--rounds",
            "2",
            "--vm-boots",
            "0",
            "--scale-secs",
            "0",
            "--preload",
            "0",
            // The clients (containerd, podman, docker) take minutes: not in a smoke test.
            "--client-rounds",
            "0",
        ])
        .arg("--runtime")
        .arg(format!("sangja={}", sangja.display()))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run sangja-bench");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        run.status.success(),
        "sangja-bench failed:\n{}\n{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    for file in ["results.md", "results.csv", "latency.svg"] {
        let p = out.join(file);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} was not written", p.display());
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap_or_default();
    assert!(
        md.contains("| sangja |"),
        "no sangja row in the report:\n{md}"
    );
    assert!(
        md.contains("Machine:"),
        "the report does not name its machine:\n{md}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
