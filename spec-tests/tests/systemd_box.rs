//! The systemd driver on this host, at native speed: `benches/systemd-box.sh` boots systemd 252 as
//! PID 1 of a sangja container made from the stock-distro guest's Debian 12 image (cgroup v2 mounted
//! in it), and inside it runs create→start→delete with `--systemd-cgroup` for sangja and runc, sangja
//! again without a system bus (on systemd's private socket), and sangja with cgroupfs. Here it runs a few rounds: each series must complete, sangja's trace must
//! report the systemd step and its parts, and no scope unit may be left. The figures are printed,
//! not asserted (the script itself is the benchmark).
//!
//! Alone: `cargo test -p sangja-shim --test systemd_box -- --nocapture` (as root; the first run
//! builds the guest image, minutes).

use std::path::Path;
use std::process::Command;

use spec_tests::guest;

#[test]
fn systemd_in_a_container_drives_both_runtimes_and_leaves_no_unit() {
    let dir = guest::image();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/systemd-box.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("3")
        .env("SANGJA_GUEST_DIR", &dir)
        .env("SANGJA", guest::dist_binary())
        .env("RUNC", spec_tests::harness::runc_bin())
        .output()
        .unwrap_or_else(|e| panic!("bash {}: {e}", script.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{text}{err}");
    assert!(
        out.status.success(),
        "{}: {}\n{text}{err}",
        script.display(),
        out.status
    );
    assert!(text.contains("box: systemd "), "{text}");
    for series in [
        "sangja_systemd",
        "runc_systemd",
        "sangja_cgroupfs",
        "sangja_systemd_private",
        "step_unit",
        "step_version",
        "step_call",
        "step_job",
        "step_files",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{series} n=3 "))),
            "{series}: no 3 samples\n{text}"
        );
    }
    assert!(text.contains("units left in the box: 0"), "{text}");
    let left = std::fs::read_dir("/run")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("sangja-sdbox."))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "the box's scratch dir is left under /run");
    assert!(
        !Path::new("/sys/fs/cgroup/unified/sangja-sdbox").exists()
            && !Path::new("/sys/fs/cgroup/memory/sangja-sdbox").exists(),
        "the box's cgroup is left"
    );
}
