//! The plan as data: `runc spec`'s config (the template `sangja spec` writes) and small edits of
//! it, validated and planned as `create` does, asserted field by field.
//!
//! Nothing here needs root or changes the host. The bundle and rootfs do not exist (so `HOME` falls
//! back to `/`); bind sources are this crate's own directory and `Cargo.toml` (the plan `stat`s
//! them); cgroup hosts are synthetic, under the nonexistent bundle (as in `crate::fuzz`). The plan
//! reads `/proc/self/mountinfo` for shared propagation and `--no-pivot`, and
//! `/proc/sys/kernel/cap_last_cap`; seccomp probes the kernel's filter flags without loading one.
use std::ffi::CStr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;
use crate::cgroups::{Hierarchy, Layout};

/// The bundle the plans are made for: it does not exist.
const BUNDLE: &str = "/nonexistent-sangja-plan-tests";
/// Where the synthetic hosts mount their cgroup hierarchies.
const CGROUP_MOUNT: &str = "/nonexistent-sangja-plan-tests/sys/fs/cgroup";
/// The container's cgroup on the synthetic hosts.
const CGROUPS_PATH: &str = "/sangja/plan-test";
/// An existing directory to bind (this crate's).
const SRC_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// An existing file to bind.
const SRC_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");

const NS_BASE: u64 = (libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWNS) as u64;
const RO_NOSUID_NODEV_NOEXEC: u64 = crate::sys::MOUNT_ATTR_RDONLY
    | crate::sys::MOUNT_ATTR_NOSUID
    | crate::sys::MOUNT_ATTR_NODEV
    | crate::sys::MOUNT_ATTR_NOEXEC;
/// runc spec's `/sys/fs/cgroup` options: nosuid, noexec, nodev, relatime, ro.
const CGROUP_FLAGS: libc::c_ulong =
    libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV | libc::MS_RELATIME | libc::MS_RDONLY;

// ---------------------------------------------------------------------------------------------
// Helpers

/// What [`build`] is given besides the spec.
struct Opts<'a> {
    bundle: &'a Path,
    cgroups: Option<(&'a Host, &'a Cgroup)>,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: u32,
    listen_fds: u32,
    trace: bool,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            bundle: Path::new(BUNDLE),
            cgroups: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            listen_fds: 0,
            trace: false,
        }
    }
}

/// The only place a [`PlanInput`] is made: rootfs `<bundle>/rootfs`, fifo in a state dir.
fn build(spec: &Spec, o: &Opts<'_>) -> Result<Plan, SpecError> {
    let rootfs = o.bundle.join("rootfs");
    let fifo = Path::new(BUNDLE).join("state/exec.fifo");
    Plan::build(
        spec,
        &PlanInput {
            id: "plan-test",
            bundle: o.bundle,
            rootfs: &rootfs,
            fifo: &fifo,
            cgroups: o.cgroups,
            no_pivot: o.no_pivot,
            no_new_keyring: o.no_new_keyring,
            preserve_fds: o.preserve_fds,
            listen_fds: o.listen_fds,
            trace: o.trace,
            caller: None,
        },
    )
}

/// `runc spec`'s config.json (what `sangja spec` writes).
fn runc_spec() -> Value {
    serde_json::from_str(&crate::template::default_spec(false)).expect("the template is JSON")
}

/// runc spec's config edited by `edit`.
fn with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = runc_spec();
    edit(&mut v);
    v
}

/// Append `mount` to `mounts[]` (runc spec has 7: the new one is `mounts[7]`).
fn add_mount(v: &mut Value, mount: Value) {
    v["mounts"].as_array_mut().expect("mounts").push(mount);
}

/// Parse as oci-spec does and validate as `create` does (with a console socket when the process
/// wants a terminal, detached).
fn checked(v: &Value) -> Result<Spec, SpecError> {
    let spec: Spec = serde_json::from_str(&v.to_string()).expect("config parses");
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    crate::spec::validate(&spec, terminal, true)?;
    Ok(spec)
}

fn plan_with(v: &Value, o: &Opts<'_>) -> Plan {
    checked(v)
        .and_then(|s| build(&s, o))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn plan_of(v: &Value) -> Plan {
    plan_with(v, &Opts::default())
}

/// The field and message `create` refuses `v` with (validation or planning).
fn refusal(v: &Value) -> (String, String) {
    match checked(v).and_then(|s| build(&s, &Opts::default())) {
        Err(SpecError::Field { field, message }) => (field, message),
        Err(e) => panic!("not a field error: {e}"),
        Ok(_) => panic!("accepted: {v}"),
    }
}

fn s(c: &CStr) -> &str {
    c.to_str().expect("UTF-8")
}

fn strs(v: &[CString]) -> Vec<&str> {
    v.iter().map(|c| s(c)).collect()
}

/// A mount operation as one line: `bind <src>`, `rbind <src>`, `<fstype> <source>`,
/// `symlink <target>`, `remount-ro`.
fn kind(op: &MountOp) -> String {
    match &op.kind {
        MountKind::Bind { source, recursive } => {
            format!(
                "{} {}",
                if *recursive { "rbind" } else { "bind" },
                s(source)
            )
        }
        MountKind::Fs { fstype, source } => format!("{} {}", s(fstype), s(source)),
        MountKind::Symlink { target } => format!("symlink {}", s(target)),
        MountKind::RemountRo => "remount-ro".into(),
    }
}

/// (destination, [`kind`]) of every operation, in order.
fn layout(p: &Plan) -> Vec<(String, String)> {
    p.mounts
        .iter()
        .map(|m| (s(&m.dest).to_string(), kind(m)))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The operation at `dest` (the first one).
fn op<'p>(p: &'p Plan, dest: &str) -> &'p MountOp {
    p.mounts
        .iter()
        .find(|m| s(&m.dest) == dest)
        .unwrap_or_else(|| panic!("no mount at {dest}: {:?}", layout(p)))
}

/// runc spec's first six mounts, as planned (the seventh is `/sys/fs/cgroup`).
const RUNC_MOUNTS: [(&str, &str); 6] = [
    ("/proc", "proc proc"),
    ("/dev", "tmpfs tmpfs"),
    ("/dev/pts", "devpts devpts"),
    ("/dev/shm", "tmpfs shm"),
    ("/dev/mqueue", "mqueue mqueue"),
    ("/sys", "sysfs sysfs"),
];

fn with_runc_mounts(rest: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs(&[&RUNC_MOUNTS[..], rest].concat())
}

fn hierarchy(controllers: &str, dir: &str) -> Hierarchy {
    Hierarchy {
        controllers: controllers.to_string(),
        mount: Path::new(CGROUP_MOUNT).join(dir),
        own: "/user.slice/plan.scope".into(),
    }
}

/// A synthetic host (as `Host::detect` would find it): v1 with a co-mounted pair and a named
/// hierarchy, hybrid with the controller-less cgroup2 at `unified`, or v2.
fn host(layout: Layout) -> Host {
    let hierarchies = match layout {
        Layout::V1 => vec![
            hierarchy("cpu,cpuacct", "cpu,cpuacct"),
            hierarchy("memory", "memory"),
            hierarchy("name=systemd", "systemd"),
        ],
        Layout::Hybrid => vec![
            hierarchy("memory", "memory"),
            hierarchy("name=systemd", "systemd"),
            hierarchy("", "unified"),
        ],
        Layout::V2 => vec![Hierarchy {
            controllers: String::new(),
            mount: PathBuf::from(CGROUP_MOUNT),
            own: "/user.slice/plan.scope".into(),
        }],
    };
    Host {
        layout,
        hierarchies,
    }
}

/// The container's cgroup directory in hierarchy `dir` of the synthetic host.
fn cg_dir(dir: &str) -> String {
    match dir {
        "" => format!("{CGROUP_MOUNT}{CGROUPS_PATH}"),
        d => format!("{CGROUP_MOUNT}/{d}{CGROUPS_PATH}"),
    }
}

/// Plan `v` on a synthetic host of `layout`.
fn plan_on(layout: Layout, v: &Value) -> Plan {
    let host = host(layout);
    let cg = Cgroup::new(&host, CGROUPS_PATH);
    plan_with(
        v,
        &Opts {
            cgroups: Some((&host, &cg)),
            ..Opts::default()
        },
    )
}

/// runc spec with a new cgroup namespace.
fn with_cgroupns() -> Value {
    with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "cgroup"}))
    })
}

mod cgroup_mounts;
mod devices_and_hooks;
mod mount_ops;
mod namespaces_and_root;
mod process_and_options;
mod runc_spec;
/// (path, mode, major, minor, uid, gid, origin) of every planned device.
type Dev<'a> = (&'a str, libc::mode_t, u32, u32, u32, u32, Option<usize>);

fn devices(p: &Plan) -> Vec<Dev<'_>> {
    p.devices
        .iter()
        .map(|d| {
            let (maj, min) = (libc::major(d.dev), libc::minor(d.dev));
            (s(&d.path), d.mode, maj, min, d.uid, d.gid, d.origin)
        })
        .collect()
}

const CHR_666: libc::mode_t = libc::S_IFCHR | 0o666;

/// CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10).
const RUNC_CAPS: u64 = 1 << 29 | 1 << 5 | 1 << 10;

mod bad_input;
