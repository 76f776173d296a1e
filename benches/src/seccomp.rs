//! Seccomp compile time: containerd, docker and podman send their default profile with every
//! container, so turning it into BPF is on every `create`'s path. Measured in process with the
//! library's compiler (what `create` calls before its clone), over `runs` compiles of each profile.
use sangja::seccomp::{compile, LinuxSeccomp};

use crate::results::Results;

/// Report group of these series (microseconds).
pub const GROUP: &str = "seccomp";
/// The profiles measured: (subject, where it comes from).
pub const PROFILES: [(&str, &str); 2] = [
    ("Docker's default profile", "moby/profiles default.json"),
    ("podman's default profile", "containers/common seccomp.json"),
];

/// Compile each profile `runs` times; one series per profile (metric `compile`, µs) and its BPF
/// length (metric `instructions`, one value).
pub fn measure(runs: usize, res: &mut Results) {
    if runs == 0 {
        return;
    }
    let profiles = [
        spec_tests::seccomp::try_docker_default(),
        spec_tests::seccomp::try_podman_default(),
    ];
    for ((subject, _), json) in PROFILES.iter().zip(profiles) {
        let json = match json {
            Ok(j) => j,
            Err(e) => {
                res.fail(subject, "fetch", e);
                continue;
            }
        };
        let profile: LinuxSeccomp = match serde_json::from_value(json) {
            Ok(p) => p,
            Err(e) => {
                res.fail(subject, "parse", e.to_string());
                continue;
            }
        };
        let mut instructions = None;
        for _ in 0..runs {
            let t = std::time::Instant::now();
            match compile(&profile) {
                Ok(prog) => {
                    let us = t.elapsed().as_secs_f64() * 1e6;
                    res.push(GROUP, subject, "compile", us);
                    instructions = Some(prog.len());
                }
                Err(e) => {
                    res.fail(subject, "compile", e.to_string());
                    break;
                }
            }
        }
        // The same program every run: one value per profile.
        if let Some(n) = instructions {
            res.push(GROUP, subject, "instructions", n as f64);
        }
    }
}
