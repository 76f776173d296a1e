//! ② Load and validate config.json. Every error names the JSON path of the offending field
//! (`process.args`, `mounts[3].destination`), so a user can fix the bundle without guessing.
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespaceType, Spec};

use json::escape_controls;

pub(crate) mod json;
mod sysctl;
mod unsupported;

/// The runtime-spec version sangja implements and reports (`ociVersion` in `state`, `spec:` in
/// `--version`).
pub const OCI_VERSION: &str = "1.2.0";

/// A bundle or config.json problem.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The bundle directory is missing or unusable.
    #[error("bundle {}: {source}", path.display())]
    Bundle {
        /// The bundle path as given.
        path: PathBuf,
        /// Why it is unusable.
        source: std::io::Error,
    },
    /// config.json could not be read.
    #[error("read {}: {source}", path.display())]
    Read {
        /// Path of config.json.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// config.json is not valid JSON or a field has the wrong type.
    #[error("{}: {field}: {message}", path.display())]
    Parse {
        /// Path of config.json.
        path: PathBuf,
        /// JSON path of the field (`.` for the document).
        field: String,
        /// Parser message.
        message: String,
    },
    /// A field is present and well-typed but invalid or unsupported.
    #[error("config.json: {field}: {message}")]
    Field {
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl SpecError {
    /// A [`SpecError::Field`] for `field` (control characters escaped: the error is one line).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError::Field {
            field: escape_controls(&field.into()),
            message: escape_controls(&message.into()),
        }
    }
}

/// A C string from `s`, or an error naming `field` when it holds a NUL byte.
pub fn cstr(s: String, field: &str) -> Result<std::ffi::CString, SpecError> {
    std::ffi::CString::new(s).map_err(|_| SpecError::field(field, "contains a NUL byte"))
}

/// Parse config.json text, naming the JSON path of a bad field.
pub fn parse(path: &Path, text: &[u8]) -> Result<Spec, SpecError> {
    let first = json::parse(text, "config.json");
    let result = match &first {
        Err((field, message)) if is_empty_device_type(field, message) => {
            without_empty_device_types(text).map_or(first, |t| json::parse(&t, "config.json"))
        }
        _ => first,
    };
    result.map_err(|(field, message)| SpecError::Parse {
        path: path.to_path_buf(),
        field,
        message,
    })
}

/// Is this oci-spec's refusal of `"type": ""` in `linux.resources.devices`? runc reads an
/// empty type as `a` (all devices), and configs written by hand or by tools carry it.
fn is_empty_device_type(field: &str, message: &str) -> bool {
    field.starts_with("linux.resources.devices[")
        && field.ends_with("].type")
        && message.starts_with("unknown variant ``")
}

/// The config with every empty device rule type dropped (so it defaults to `a`), or `None`
/// when it is not an object of that shape. Only a config that failed on such a type is read
/// twice, so the common parse stays one pass.
fn without_empty_device_types(text: &[u8]) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(text).ok()?;
    let rules = doc
        .pointer_mut("/linux/resources/devices")?
        .as_array_mut()?;
    for rule in rules
        .iter_mut()
        .filter_map(serde_json::Value::as_object_mut)
    {
        if rule.get("type").and_then(serde_json::Value::as_str) == Some("") {
            rule.remove("type");
        }
    }
    serde_json::to_vec(&doc).ok()
}

/// The runtime-spec versions accepted: 1.0.0 through 1.3.x.
fn check_version(v: &str) -> Result<(), SpecError> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some([1, minor, _]) if *minor <= 3 => Ok(()),
        _ => Err(SpecError::field(
            "ociVersion",
            format!("unsupported version {v:?} (sangja accepts 1.0.0 through 1.3.x)"),
        )),
    }
}

/// Does `dest` (absolute) climb above `/` lexically?
fn escapes_root(dest: &Path) -> bool {
    let mut depth: i32 = 0;
    for c in dest.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    false
}

/// Validate everything that does not need the filesystem (but for a `stat` of a joined
/// namespace that a sysctl needs). `console_socket` is the `--console-socket` flag; `detached` is
/// true for `create` and `run --detach`.
pub fn validate(spec: &Spec, console_socket: bool, detached: bool) -> Result<(), SpecError> {
    check_version(spec.version())?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::field("process", "is required to create a container"))?;
    validate_process(process)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && detached && !console_socket {
        return Err(SpecError::field(
            "process.terminal",
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    if console_socket && (!terminal || !detached) {
        return Err(SpecError::field(
            "process.terminal",
            "cannot use console socket if runc will not detach or allocate tty",
        ));
    }
    validate_hooks(spec)?;
    validate_mounts(spec)?;
    unsupported::mounts(spec)?;
    let linux = spec.linux().as_ref();
    let new_uts = validate_namespaces(linux)?;
    let hostname = spec.hostname().as_deref().is_some_and(|h| !h.is_empty());
    let domainname = spec.domainname().as_deref().is_some_and(|h| !h.is_empty());
    if hostname && !new_uts {
        return Err(SpecError::field(
            "hostname",
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if domainname && !new_uts {
        return Err(SpecError::field(
            "domainname",
            "unable to set domainname without a private UTS namespace",
        ));
    }
    if let Some(l) = linux {
        validate_linux(l)?;
        sysctl::check(l, hostname, domainname, &sysctl::same_as_own)?;
    }
    Ok(())
}

/// Hook paths are absolute, timeouts positive.
#[allow(deprecated)]
fn validate_hooks(spec: &Spec) -> Result<(), SpecError> {
    let Some(h) = spec.hooks() else {
        return Ok(());
    };
    let kinds = [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ];
    for (kind, list) in kinds {
        for (i, hook) in list.iter().flatten().enumerate() {
            if !hook.path().is_absolute() {
                return Err(SpecError::field(
                    format!("hooks.{kind}[{i}].path"),
                    "must be an absolute path",
                ));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(SpecError::field(
                    format!("hooks.{kind}[{i}].timeout"),
                    "must be positive",
                ));
            }
        }
    }
    Ok(())
}

/// Mount destinations: inside the root (a relative one is relative to `/`, as runtime-spec 1.2
/// says), no NUL, and `/proc` kept procfs.
fn validate_mounts(spec: &Spec) -> Result<(), SpecError> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let d = m.destination();
        if escapes_root(d) {
            return Err(SpecError::field(
                format!("mounts[{i}].destination"),
                format!("{:?} escapes the container root", d),
            ));
        }
        if d.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(SpecError::field(
                format!("mounts[{i}].destination"),
                "contains a NUL byte",
            ));
        }
        check_proc_mount(i, m)?;
    }
    Ok(())
}

/// `linux.namespaces`: no duplicates, no user or time namespace yet, absolute paths, a mount
/// namespace. Returns whether the container gets a new UTS namespace.
fn validate_namespaces(linux: Option<&Linux>) -> Result<bool, SpecError> {
    let mut kinds = HashSet::new();
    let mut new_uts = false;
    for (i, ns) in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !kinds.insert(ns.typ()) {
            return Err(SpecError::field(
                format!("linux.namespaces[{i}].type"),
                "duplicate namespace",
            ));
        }
        match ns.typ() {
            LinuxNamespaceType::User => {
                return Err(SpecError::field(
                    format!("linux.namespaces[{i}]"),
                    "user namespaces are not supported yet",
                ))
            }
            LinuxNamespaceType::Time => {
                return Err(SpecError::field(
                    format!("linux.namespaces[{i}]"),
                    "time namespaces are not supported yet",
                ))
            }
            LinuxNamespaceType::Uts => new_uts = ns.path().is_none(),
            _ => {}
        }
        if ns.path().as_ref().is_some_and(|p| !p.is_absolute()) {
            return Err(SpecError::field(
                format!("linux.namespaces[{i}].path"),
                "must be an absolute path",
            ));
        }
    }
    if !kinds.contains(&LinuxNamespaceType::Mount) {
        return Err(SpecError::field(
            "linux.namespaces",
            "a mount namespace is required",
        ));
    }
    Ok(new_uts)
}

/// Devices, masked and read-only paths, root propagation, and the fields not applied.
fn validate_linux(l: &Linux) -> Result<(), SpecError> {
    if let Some(devs) = l.devices() {
        for (i, d) in devs.iter().enumerate() {
            let p = d.path();
            if !p.is_absolute() || escapes_root(p) {
                return Err(SpecError::field(
                    format!("linux.devices[{i}].path"),
                    "must be an absolute path inside the container",
                ));
            }
        }
    }
    for (name, list) in [
        ("linux.maskedPaths", l.masked_paths()),
        ("linux.readonlyPaths", l.readonly_paths()),
    ] {
        // A relative path is relative to `/`, as runc takes it.
        for (i, p) in list.iter().flatten().enumerate() {
            if escapes_root(&Path::new("/").join(p)) {
                return Err(SpecError::field(
                    format!("{name}[{i}]"),
                    "must be a path inside the container",
                ));
            }
        }
    }
    if let Some(p) = l.rootfs_propagation() {
        if !matches!(
            p.as_str(),
            "" | "private"
                | "rprivate"
                | "slave"
                | "rslave"
                | "shared"
                | "rshared"
                | "unbindable"
                | "runbindable"
        ) {
            return Err(SpecError::field(
                "linux.rootfsPropagation",
                format!("unknown propagation {p:?}"),
            ));
        }
    }
    unsupported::linux(l)
}

/// The largest uid or gid a process may get: `(uid_t)-1` (4294967295) means "unchanged" to
/// `setresuid`/`setresgid`, so anything above `i32::MAX` is refused, as runc does.
const MAX_ID: u32 = i32::MAX as u32;

/// `process.user`: uid, gid and every additional gid in `0..=2147483647`.
fn validate_user(user: &oci_spec::runtime::User) -> Result<(), SpecError> {
    let out_of_range = |field: String, id: u32| {
        SpecError::field(
            field,
            format!("{id} is out of range: uids and gids must be in range 0-{MAX_ID}"),
        )
    };
    if user.uid() > MAX_ID {
        return Err(out_of_range("process.user.uid".into(), user.uid()));
    }
    if user.gid() > MAX_ID {
        return Err(out_of_range("process.user.gid".into(), user.gid()));
    }
    for (i, g) in user.additional_gids().iter().flatten().enumerate() {
        if *g > MAX_ID {
            return Err(out_of_range(
                format!("process.user.additionalGids[{i}]"),
                *g,
            ));
        }
    }
    Ok(())
}

/// Validate a process (config.json's `process`, or an exec's): args, env, cwd, rlimits.
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<(), SpecError> {
    unsupported::process(process)?;
    match process.args().as_deref() {
        None | Some([]) => return Err(SpecError::field("process.args", "must not be empty")),
        Some([first, ..]) if first.is_empty() => {
            return Err(SpecError::field("process.args[0]", "must not be empty"))
        }
        Some(args) => {
            if let Some(i) = args.iter().position(|a| a.contains('\0')) {
                return Err(SpecError::field(
                    format!("process.args[{i}]"),
                    "contains a NUL byte",
                ));
            }
        }
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
                return Err(SpecError::field(
                    format!("process.env[{i}]"),
                    format!("{e:?} is not KEY=value"),
                ));
            }
        }
    }
    if !process.cwd().is_absolute() {
        return Err(SpecError::field("process.cwd", "must be an absolute path"));
    }
    validate_user(process.user())?;
    if let Some(rl) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rl.iter().enumerate() {
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(SpecError::field(
                    format!("process.rlimits[{i}].type"),
                    "duplicate rlimit",
                ));
            }
            if r.soft() > r.hard() {
                return Err(SpecError::field(
                    format!("process.rlimits[{i}]"),
                    "soft limit exceeds hard limit",
                ));
            }
        }
    }
    Ok(())
}

/// Files below `/proc` a mount may replace (lxcfs-style overrides, as runc allows).
const PROC_OVERRIDES: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// `/proc` must be procfs (masked and read-only paths, LSM labels and `/proc/self` checks rely on
/// it): a mount at `/proc` must be of type `proc`, and below it only the files runc allows may be
/// replaced (CVE-2019-16884 and friends).
fn check_proc_mount(i: usize, m: &oci_spec::runtime::Mount) -> Result<(), SpecError> {
    let dest = m.destination().as_path();
    let clean = lexical_clean(dest);
    if !clean.starts_with("/proc") {
        return Ok(());
    }
    let ok = if clean == Path::new("/proc") {
        m.typ().as_deref() == Some("proc") || binds_a_procfs_root(m)
    } else {
        PROC_OVERRIDES.iter().any(|p| clean == Path::new(p))
    };
    if ok {
        Ok(())
    } else {
        Err(SpecError::field(
            format!("mounts[{i}].destination"),
            format!("{dest:?} cannot be mounted: /proc must be procfs and only some of its files may be replaced"),
        ))
    }
}

/// Is `m` a bind of the root of a procfs (a config in the host's pid namespace binding the host's
/// `/proc`, which runc allows)? Checked on the source: procfs, inode 1.
fn binds_a_procfs_root(m: &oci_spec::runtime::Mount) -> bool {
    use std::os::unix::fs::MetadataExt;
    let bind = m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
    let Some(src) = m.source() else { return false };
    bind && nix::sys::statfs::statfs(src)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        && std::fs::metadata(src).is_ok_and(|st| st.ino() == 1)
}

/// `dest` made absolute (relative to `/`) with `.` and `..` resolved lexically (`..` at the top
/// stays at `/`), so that `proc`, `/a/../proc` and `/proc/` all name `/proc`.
pub(crate) fn lexical_clean(dest: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in dest.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// runc reads `"type": ""` in a device rule as `a`; any other bad type stays refused.
    #[test]
    fn an_empty_device_rule_type_means_all_devices() {
        let text = |t: &str| {
            format!(
                r#"{{"ociVersion":"1.0.2","linux":{{"resources":{{"devices":[
                    {{"allow":false,"type":"{t}","access":"rwm"}}]}}}}}}"#
            )
        };
        let spec = parse(Path::new("config.json"), text("").as_bytes());
        let typ = spec.ok().and_then(|s| {
            let rule = s
                .linux()
                .as_ref()?
                .resources()
                .as_ref()?
                .devices()
                .as_ref()?
                .first()?
                .clone();
            Some(rule.typ())
        });
        assert_eq!(typ, Some(None));
        let e = parse(Path::new("config.json"), text("x").as_bytes()).map(|_| ());
        assert!(
            e.as_ref()
                .is_err_and(|e| e.to_string().contains("linux.resources.devices[0].type")),
            "{e:?}"
        );
    }

    /// Fuzzing (fuzz/regressions/config/rlimit-type-newline.json): serde quotes a bad enum value and
    /// the path quotes map keys verbatim; a newline in either must not split the error.
    #[test]
    fn parse_error_quoting_a_newline_is_one_line() {
        let bad_value =
            br#"{"ociVersion":"1.0.2","process":{"rlimits":[{"type":"R\n","hard":1,"soft":1}]}}"#;
        let e = parse(Path::new("config.json"), bad_value)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config.json: process.rlimits[0].type: unknown variant `R\\n`"),
            "{e}"
        );
        let bad_key = br#"{"ociVersion":"1.0.2","annotations":{"a\nb":1}}"#;
        let e = parse(Path::new("config.json"), bad_key)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config.json: annotations.a\\nb: invalid type"),
            "{e}"
        );
        let e = SpecError::field("linux.sysctl.a\nb", "bad\r").to_string();
        assert_eq!(e, "config.json: linux.sysctl.a\\nb: bad\\r");
    }

    fn spec_of(json: &str) -> Result<Spec, SpecError> {
        parse(Path::new("config.json"), json.as_bytes())
    }

    const BASE: &str = r#"{"ociVersion":"1.0.2-dev","root":{"path":"rootfs"},
        "process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
        "linux":{"namespaces":[{"type":"mount"}]}}"#;

    #[test]
    fn runc_spec_shape_validates() {
        let s = spec_of(BASE).expect("parse");
        validate(&s, false, true).expect("valid");
    }

    #[test]
    fn versions() {
        assert!(check_version("1.0.0").is_ok());
        assert!(check_version("1.0.2-dev").is_ok());
        assert!(check_version("1.3.0").is_ok());
        let e = check_version("2.0.0").unwrap_err().to_string();
        assert!(e.contains("ociVersion"), "{e}");
        assert!(check_version("1.4.0").is_err());
        assert!(check_version("x").is_err());
    }

    #[test]
    fn bad_types_name_the_json_path() {
        let e = spec_of(
            r#"{"ociVersion":"1.0.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":"sh"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("process.args"), "{e}");
        let e =
            spec_of(r#"{"ociVersion":"1.0.0","mounts":[{"destination":"/a"},{"destination":5}]}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("mounts[1].destination"), "{e}");
    }

    #[test]
    fn missing_args_and_escaping_mounts() {
        let s = spec_of(&BASE.replace(r#""args":["sh"],"#, "")).expect("parse");
        assert!(validate(&s, false, true)
            .unwrap_err()
            .to_string()
            .contains("process.args"));
        let s = spec_of(&BASE.replace(
            r#""linux""#,
            r#""mounts":[{"destination":"/ok","type":"tmpfs"},{"destination":"/../../etc","type":"tmpfs"}],"linux""#,
        ))
        .expect("parse");
        let e = validate(&s, false, true).unwrap_err().to_string();
        assert!(e.contains("mounts[1].destination"), "{e}");
    }

    fn with_process(user: &str) -> Result<(), SpecError> {
        let s = spec_of(&BASE.replace(r#""user":{"uid":0,"gid":0}"#, user)).expect("parse");
        validate(&s, false, true)
    }

    #[test]
    fn ids_beyond_i32_max_are_refused_naming_the_field() {
        with_process(r#""user":{"uid":2147483647,"gid":2147483647,"additionalGids":[0,5]}"#)
            .expect("the largest valid ids");
        for (user, field) in [
            (r#""user":{"uid":4294967295,"gid":0}"#, "process.user.uid"),
            (r#""user":{"uid":0,"gid":2147483648}"#, "process.user.gid"),
            (
                r#""user":{"uid":0,"gid":0,"additionalGids":[1,4294967295]}"#,
                "process.user.additionalGids[1]",
            ),
        ] {
            let e = with_process(user).expect_err(user).to_string();
            assert!(
                e.contains(&format!("{field}: ")) && e.contains("range 0-2147483647"),
                "{e}"
            );
        }
    }

    #[test]
    fn intel_rdt_is_refused_not_ignored() {
        let s = spec_of(&BASE.replace(
            r#""namespaces":"#,
            r#""intelRdt":{"closID":"c"},"namespaces":"#,
        ))
        .expect("parse");
        let e = validate(&s, false, true).unwrap_err().to_string();
        assert!(e.starts_with("config.json: linux.intelRdt: "), "{e}");
    }

    #[test]
    fn relative_mount_destinations_are_relative_to_root() {
        let s = spec_of(&BASE.replace(
            r#""linux""#,
            r#""mounts":[{"destination":"relative/x","type":"tmpfs"}],"linux""#,
        ))
        .expect("parse");
        validate(&s, false, true).expect("a relative destination is accepted");
        // ... and is still checked as the absolute path it names.
        for dest in ["proc", "a/../proc/kcore", "../../etc"] {
            let s = spec_of(&BASE.replace(
                r#""linux""#,
                &format!(r#""mounts":[{{"destination":"{dest}","type":"tmpfs"}}],"linux""#),
            ))
            .expect("parse");
            let e = validate(&s, false, true).expect_err(dest).to_string();
            assert!(e.contains("mounts[0].destination"), "{dest}: {e}");
        }
        assert_eq!(lexical_clean(Path::new("a/./b/../c/")), Path::new("/a/c"));
    }

    #[test]
    fn sysctl_checks_run_in_validate() {
        let s = spec_of(&BASE.replace(
            r#""namespaces":"#,
            r#""sysctl":{"vm.swappiness":"10"},"namespaces":"#,
        ))
        .expect("parse");
        let e = validate(&s, false, true).unwrap_err().to_string();
        assert_eq!(
            e,
            "config.json: linux.sysctl.vm.swappiness: sysctl \"vm.swappiness\" is not in a \
             separate kernel namespace"
        );
    }

    #[test]
    fn escape_detection() {
        assert!(escapes_root(Path::new("/../etc")));
        assert!(escapes_root(Path::new("/a/../../etc")));
        assert!(!escapes_root(Path::new("/a/../etc")));
    }
}
