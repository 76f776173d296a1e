//! Entry points for the fuzz targets (`fuzz/fuzz_targets/`, run by `.ci/fuzz`) and their seed
//! tests; not API. Each takes the fuzzer's bytes, runs one pipeline the CLI runs, and returns the
//! error's `Display` when the input is refused. An error must be one non-empty line (the CLI prints
//! it as is): a violation panics, so that the fuzzer reports it as a crash.
//!
//! Nothing here has side effects. The plan reads a little of the host, all read-only: bind mount
//! sources are `stat`ed (relative ones below the nonexistent bundle `/nonexistent-sangja-fuzz`),
//! `/proc/self/mountinfo` is read for shared root propagation, `/proc/self/ns/*` is `stat`ed for
//! sysctls, the LSM probe reads securityfs when a mount label is set, and seccomp asks the kernel
//! whether it has the filter flags (a `seccomp(2)` call with a NULL program: nothing is loaded).
//! The cgroups are synthetic (v1, hybrid and v2 hosts under `/nonexistent-sangja-fuzz`), so the
//! few reads `update` planning makes find nothing, and nothing is ever written.
use std::fmt::Display;
use std::path::{Component, Path, PathBuf};

use crate::cgroups::{devices, Cgroup, Hierarchy, Host, Layout, Mode};
use crate::plan::{Plan, PlanInput};
use crate::spec::SpecError;

/// The bundle the plans are made for: it does not exist.
const BUNDLE: &str = "/nonexistent-sangja-fuzz";
/// Where the synthetic hosts mount their cgroup hierarchies.
const CGROUP_MOUNT: &str = "/nonexistent-sangja-fuzz/sys/fs/cgroup";

/// An error as the CLI prints it; panics unless it is one non-empty line.
fn one_line(e: impl Display) -> String {
    let msg = e.to_string();
    assert!(!msg.is_empty(), "empty error message");
    assert!(
        !msg.contains('\n'),
        "error message of several lines: {msg:?}"
    );
    msg
}

fn hierarchy(controllers: &str, dir: &str, own: &str) -> Hierarchy {
    Hierarchy {
        controllers: controllers.to_string(),
        mount: Path::new(CGROUP_MOUNT).join(dir),
        own: own.to_string(),
    }
}

/// v1 hierarchies as `/proc/self/cgroup` names them, with their mount directory. `hugetlb` and
/// `rdma` are left out on the hybrid host, which then finds them on its cgroup2 mount.
fn v1_hierarchies(all: bool) -> Vec<Hierarchy> {
    let mut v = vec![
        ("cpuset", "cpuset"),
        ("cpu,cpuacct", "cpu,cpuacct"),
        ("blkio", "blkio"),
        ("memory", "memory"),
        ("devices", "devices"),
        ("freezer", "freezer"),
        ("net_cls,net_prio", "net_cls,net_prio"),
        ("perf_event", "perf_event"),
        ("pids", "pids"),
        ("misc", "misc"),
        ("name=systemd", "systemd"),
    ];
    if all {
        v.extend([("hugetlb", "hugetlb"), ("rdma", "rdma")]);
    }
    v.into_iter()
        .map(|(c, d)| hierarchy(c, d, "/user.slice/fuzz.scope"))
        .collect()
}

/// Synthetic v1, hybrid and v2 hosts (as [`Host::detect`] would find them).
fn hosts() -> [Host; 3] {
    let mut hybrid = v1_hierarchies(false);
    hybrid.push(hierarchy("", "unified", "/user.slice/fuzz.scope"));
    [
        Host {
            layout: Layout::V1,
            hierarchies: v1_hierarchies(true),
        },
        Host {
            layout: Layout::Hybrid,
            hierarchies: hybrid,
        },
        Host {
            layout: Layout::V2,
            hierarchies: vec![Hierarchy {
                controllers: String::new(),
                mount: PathBuf::from(CGROUP_MOUNT),
                own: "/user.slice/fuzz.scope".into(),
            }],
        },
    ]
}

/// The container's cgroup on `host` for `cgroups_path`, checked to stay inside each hierarchy.
fn cgroup_on(host: &Host, cgroups_path: &str) -> Cgroup {
    let cg = Cgroup::new(host, cgroups_path);
    for ((_, dir), h) in cg.dirs.iter().zip(&host.hierarchies) {
        assert!(
            dir.starts_with(&h.mount) && !dir.components().any(|c| c == Component::ParentDir),
            "cgroupsPath {cgroups_path:?} leaves its hierarchy {}: {}",
            h.mount.display(),
            dir.display()
        );
    }
    cg
}

/// config.json → validated spec → plan, as `create` makes them, on no cgroups and on each
/// synthetic host; with the cgroup's create-time write plan (and cgroup2's device program).
pub fn config(data: &[u8]) -> Result<(), String> {
    let mut spec = crate::spec::parse(Path::new("config.json"), data).map_err(one_line)?;
    // As `create`, with `--console-socket` when the process wants a terminal (as runc's own spec).
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    crate::spec::validate(&spec, terminal, true).map_err(one_line)?;
    bind_host_root(&mut spec);
    let linux = spec.linux().as_ref();
    let resources = linux.and_then(|l| l.resources().as_ref());
    let cgroups_path = linux
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/sangja/fuzz".into());
    let bundle = Path::new(BUNDLE);
    let rootfs = bundle.join("rootfs");
    let fifo = bundle.join("state/exec.fifo");
    let hosts = hosts();
    let cgroups: Vec<(&Host, Cgroup)> = hosts
        .iter()
        .map(|h| (h, cgroup_on(h, &cgroups_path)))
        .collect();
    let mut first = None;
    let mut note = |r: Result<(), String>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    let with_none = std::iter::once(None).chain(cgroups.iter().map(|(h, c)| Some((*h, c))));
    for cg in with_none {
        let input = PlanInput {
            id: "fuzz",
            bundle,
            rootfs: &rootfs,
            fifo: &fifo,
            cgroups: cg,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            listen_fds: 0,
            trace: false,
            caller: None,
        };
        note(Plan::build(&spec, &input).map(drop).map_err(one_line));
        if let Some((_, c)) = cg {
            note(create_writes(c, resources));
        }
    }
    first.map_or(Ok(()), Err)
}

/// Absolute bind mount sources become `/`: the engines' configs name per-container files
/// (`resolv.conf`, `hostname`) that existed only while the container ran, and a fuzzed path
/// should not decide the plan by what this host has. Relative sources stay: they are below the
/// nonexistent bundle, so the missing-source error is fuzzed too.
fn bind_host_root(spec: &mut oci_spec::runtime::Spec) {
    for m in spec.mounts_mut().iter_mut().flatten() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if bind && m.source().as_ref().is_some_and(|s| s.is_absolute()) {
            m.set_source(Some(PathBuf::from("/")));
        }
    }
}

/// What [`Cgroup::create`] decides before touching the host: its write plan and, on cgroup2, the
/// device program.
fn create_writes(
    cg: &Cgroup,
    resources: Option<&oci_spec::runtime::LinuxResources>,
) -> Result<(), String> {
    cg.plan(resources, Mode::Create).map_err(one_line)?;
    if cg.layout == Layout::V2 {
        let rules = devices::rules(resources.and_then(|r| r.devices().as_deref()));
        devices::program(&rules.map_err(one_line)?);
    }
    Ok(())
}

/// A `linux.seccomp` object → the BPF program the plan would load (compiled only, never loaded).
pub fn seccomp(data: &[u8]) -> Result<(), String> {
    // As config.json's `linux.seccomp` is parsed (spec::parse).
    let profile: crate::seccomp::LinuxSeccomp = crate::spec::json::parse(data, "linux.seccomp")
        .map_err(|(field, message)| SpecError::Parse {
            path: Path::new("linux.seccomp").to_path_buf(),
            field,
            message,
        })
        .map_err(one_line)?;
    let program = crate::seccomp::compile(&profile).map_err(one_line)?;
    assert!(
        !program.is_empty(),
        "a compiled program without instructions"
    );
    Ok(())
}

/// An `update --resources` document → the write plan `update` makes on v1, hybrid and v2
/// cgroups (nothing written).
pub fn update(data: &[u8]) -> Result<(), String> {
    let r = crate::container::resources::parse_resources(data).map_err(one_line)?;
    let mut first = None;
    for host in hosts() {
        let cg = cgroup_on(&host, "/sangja/fuzz");
        if let Err(e) = cg.plan(Some(&r), Mode::Update) {
            first.get_or_insert(one_line(e));
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    type Entry = fn(&[u8]) -> Result<(), String>;

    /// Runs `entry` over every file in `fuzz/<dir>/<target>` (the committed seeds, or the
    /// minimized crash reproducers): none may panic, and an error is one line (checked by the
    /// entry). Returns (file name, result).
    fn run(dir: &str, target: &str, entry: Entry) -> Vec<(String, Result<(), String>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz")
            .join(dir)
            .join(target);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no inputs in {}", dir.display());
        files
            .iter()
            .map(|f| {
                let data = fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                let name = f.file_name().unwrap_or_default().to_string_lossy();
                (name.into_owned(), entry(&data))
            })
            .collect()
    }

    /// The reproducers only need to run through; the refusals they get are checked here.
    fn regressions(target: &str, entry: Entry) -> Vec<(String, Result<(), String>)> {
        run("regressions", target, entry)
    }

    #[test]
    fn config_seeds() {
        for (name, r) in run("corpus", "config", super::config) {
            // runc's, sangja's, Docker's and podman's configs are accepted, the rootless ones too.
            assert_eq!(r, Ok(()), "{name}");
        }
    }

    #[test]
    fn config_regressions() {
        for (name, r) in regressions("config", super::config) {
            assert!(r.is_err(), "{name}");
        }
    }

    #[test]
    fn seccomp_seeds() {
        for (name, r) in run("corpus", "seccomp", super::seccomp) {
            assert_eq!(r, Ok(()), "{name}");
        }
    }

    #[test]
    fn seccomp_regressions() {
        for (name, r) in regressions("seccomp", super::seccomp) {
            assert!(r.is_err(), "{name}");
        }
    }

    #[test]
    fn update_seeds() {
        for (name, r) in run("corpus", "update", super::update) {
            // `unified` needs a v2 host: refused on the v1 and hybrid ones (the first error).
            if name.starts_with("unified") {
                let e = "cgroup: linux.resources.unified: needs a cgroup v2 host (this host is \
                         cgroup v1): use the v1 resource fields";
                assert_eq!(r, Err(e.into()), "{name}");
            } else {
                assert_eq!(r, Ok(()), "{name}");
            }
        }
    }

    #[test]
    fn update_regressions() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/update");
        if fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
            regressions("update", super::update);
        }
    }
}
