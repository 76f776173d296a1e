//! What this build of sangja implements, as the runtime-spec "Features structure" (`features.md`),
//! printed by `sangja features` in the shape `runc features` prints.
//!
//! As the spec asks, the content is fixed when sangja is compiled, not probed on the host: it
//! lists the names sangja *recognizes* in a `config.json`, not whether the running kernel has
//! them (a capability the kernel does not know is ignored with a warning, as runc does).
//! Every list must stay in step with what validation and planning accept:
//! - `ociVersionMin`/`ociVersionMax`: `spec::check_version` (1.0.0 through 1.3.x);
//! - `hooks`: the six kinds `hooks.rs` runs;
//! - `mountOptions`: the options `plan::mounts::parse_options` acts on. Options it accepts but
//!   ignores (`rrw`, `rsuid`, `rdev`, `rexec`, `tmpcopyup`) are left out, and so are the
//!   filesystem data options (`mode=755`) it hands to the kernel as they are;
//! - `linux.namespaces`: what `spec::validate` accepts;
//! - `linux.capabilities`: every name of the capability table (the `caps` crate);
//! - `linux.seccomp`: enabled, with the actions, operators, arches and flags the compiler knows;
//! - `linux.apparmor`, `linux.selinux`: enabled (sangja applies them; as runc, whether the host
//!   has the module is not probed here: `create` refuses a profile or label the host cannot apply).
use std::collections::BTreeMap;

use serde::Serialize;

/// The oldest `ociVersion` accepted in `config.json`.
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// The newest `ociVersion` accepted in `config.json` (validation accepts any 1.3.x).
pub const OCI_VERSION_MAX: &str = "1.3.0";

/// Hook kinds, in lifecycle order (as runc lists them).
pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mount options that decide how a mount is made, sorted (as runc lists them).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

/// Namespace types `linux.namespaces` may hold, sorted (as runc lists them).
pub const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// The runtime-spec Features structure. Field order is runc's output order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// The oldest recognized runtime-spec version.
    pub oci_version_min: String,
    /// The newest recognized runtime-spec version.
    pub oci_version_max: String,
    /// Recognized hook kinds.
    pub hooks: Vec<String>,
    /// Recognized mount options.
    pub mount_options: Vec<String>,
    /// Linux-specific features.
    pub linux: LinuxFeatures,
    /// Implementation-specific facts (`io.github.sangja.version`, …).
    pub annotations: BTreeMap<String, String>,
}

impl Features {
    /// The structure as `runc features` prints it: indented by four spaces, ending in a newline.
    pub fn to_pretty_json(&self) -> String {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Plain strings, bools and maps with string keys: serializing cannot fail.
        if self.serialize(&mut ser).is_err() {
            out.clear();
        }
        out.push(b'\n');
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// `linux` of the Features structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxFeatures {
    /// Recognized namespace types.
    pub namespaces: Vec<String>,
    /// Recognized capability names (`CAP_…`).
    pub capabilities: Vec<String>,
    /// Cgroup managers.
    pub cgroup: CgroupFeatures,
    /// Seccomp support.
    pub seccomp: SeccompFeatures,
    /// AppArmor support.
    pub apparmor: Enabled,
    /// SELinux support.
    pub selinux: Enabled,
    /// Mount extensions: idmapped mounts.
    pub mount_extensions: MountExtensions,
}

/// `linux.mountExtensions` of the Features structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountExtensions {
    /// Idmapped mounts (`idmap`, `ridmap`, `mounts[].uidMappings`).
    pub idmap: Enabled,
}

/// `linux.seccomp` of the Features structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompFeatures {
    /// Seccomp filters are compiled and loaded (in pure Rust; no libseccomp).
    pub enabled: bool,
    /// Recognized `SCMP_ACT_*` actions.
    pub actions: Vec<String>,
    /// Recognized `SCMP_CMP_*` operators.
    pub operators: Vec<String>,
    /// Recognized `SCMP_ARCH_*` architectures.
    pub archs: Vec<String>,
    /// Recognized `SECCOMP_FILTER_FLAG_*` flags.
    pub known_flags: Vec<String>,
    /// Flags this kernel supports.
    pub supported_flags: Vec<String>,
}

/// `linux.cgroup` of the Features structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupFeatures {
    /// cgroup v1 hierarchies are managed.
    pub v1: bool,
    /// The cgroup v2 unified hierarchy is managed.
    pub v2: bool,
    /// The systemd cgroup driver (`--systemd-cgroup`, cgroup v2 hosts).
    pub systemd: bool,
    /// The systemd user-instance driver.
    pub systemd_user: bool,
}

/// A feature that is only on or off (`{"enabled": false}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enabled {
    /// Whether the runtime implements it.
    pub enabled: bool,
}

/// Every capability name sangja recognizes, in kernel number order (as runc lists them).
fn capability_names() -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(caps::Capability::index);
    all.into_iter().map(|c| c.to_string()).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// The features of this build.
pub fn features() -> Features {
    let annotations = [
        ("io.github.sangja.version", env!("CARGO_PKG_VERSION")),
        ("org.opencontainers.runc.checkpoint.enabled", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Features {
        oci_version_min: OCI_VERSION_MIN.into(),
        oci_version_max: OCI_VERSION_MAX.into(),
        hooks: strings(HOOKS),
        mount_options: strings(MOUNT_OPTIONS),
        linux: LinuxFeatures {
            namespaces: strings(NAMESPACES),
            capabilities: capability_names(),
            cgroup: CgroupFeatures {
                v1: true,
                v2: true,
                systemd: true,
                systemd_user: false,
            },
            seccomp: SeccompFeatures {
                enabled: true,
                actions: strings(crate::seccomp::ACTIONS),
                operators: strings(crate::seccomp::OPERATORS),
                archs: strings(crate::seccomp::ARCHES),
                known_flags: strings(crate::seccomp::KNOWN_FLAGS),
                supported_flags: crate::seccomp::supported_flags()
                    .into_iter()
                    .map(String::from)
                    .collect(),
            },
            apparmor: Enabled { enabled: true },
            selinux: Enabled { enabled: true },
            mount_extensions: MountExtensions {
                idmap: Enabled { enabled: true },
            },
        },
        annotations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_accepted_by_validation() {
        for v in [OCI_VERSION_MIN, OCI_VERSION_MAX, crate::spec::OCI_VERSION] {
            let mut spec = oci_spec::runtime::Spec::default();
            spec.set_version(v.to_string());
            let r = crate::spec::validate(&spec, false, true);
            assert!(r.is_ok(), "{v}: {r:?}");
        }
    }

    #[test]
    fn lists_are_sorted_and_unique() {
        for list in [MOUNT_OPTIONS, NAMESPACES] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }

    #[test]
    fn namespaces_parse_as_oci_types() {
        for ns in NAMESPACES {
            let t: Result<oci_spec::runtime::LinuxNamespaceType, _> =
                serde_json::from_value(serde_json::Value::from(*ns));
            assert!(t.is_ok(), "{ns}");
        }
    }

    #[test]
    fn capabilities_parse_as_oci_capabilities() {
        let names = capability_names();
        assert!(names.len() >= 41, "{names:?}");
        assert_eq!(names.first().map(String::as_str), Some("CAP_CHOWN"));
        for name in &names {
            let c: Result<oci_spec::runtime::Capability, _> =
                serde_json::from_value(serde_json::Value::from(name.as_str()));
            assert!(c.is_ok(), "{name}");
        }
    }

    #[test]
    fn pretty_json_has_four_space_indent_and_a_newline() {
        let text = features().to_pretty_json();
        assert!(
            text.starts_with("{\n    \"ociVersionMin\": \"1.0.0\",\n"),
            "{text}"
        );
        assert!(text.ends_with("}\n"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v["linux"]["cgroup"]["systemdUser"], false);
        assert_eq!(v["linux"]["seccomp"]["enabled"], true);
        assert!(v["linux"]["seccomp"]["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "SCMP_ACT_NOTIFY")));
    }

    #[test]
    fn serializes_in_runc_order() {
        let text = serde_json::to_string(&features()).unwrap_or_default();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap_or(usize::MAX);
        let keys = [
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "linux",
            "namespaces",
            "capabilities",
            "cgroup",
            "systemdUser",
            "seccomp",
            "apparmor",
            "selinux",
            "annotations",
        ];
        assert!(keys.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
    }
}
