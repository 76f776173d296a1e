//! ③ Linux security modules, planned: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel` checked against the host and turned into the `/proc/self/attr` writes the
//! init (or an `exec` child) makes; `crate::lsm` makes them, and says when and why there.
//!
//! The host is probed only when the config names a profile or label. On a host without the LSM,
//! as runc:
//! - `apparmorProfile`: runc does not check; its write of `exec <profile>` fails (EINVAL: no module
//!   takes it) and the container does not start. We refuse it while planning, naming the field.
//! - `selinuxLabel`: runc's validation refuses it ("selinux label is specified in config, but
//!   selinux is disabled or not supported"). So do we, naming the field.
//! - `mountLabel`: runc adds `context=` regardless and the kernel refuses the mount (EINVAL). We
//!   refuse it while planning, naming the field.
//!
//! AppArmor: `exec <profile>` to `/proc/self/attr/apparmor/exec` (kernels before 5.8:
//! `/proc/self/attr/exec`), libapparmor's `aa_change_onexec`.
//! SELinux: the label to `/proc/self/attr/exec` (`setexeccon`); with a new session keyring, also to
//! `/proc/self/attr/keycreate` first (`setkeycreatecon`, as runc); `linux.mountLabel` as a
//! `context="<label>"` option of every filesystem mount but `proc`, `sysfs` and cgroup
//! (go-selinux's `label.FormatMountLabel`, as runc's `mountPropagate` uses it).
use std::ffi::{CStr, CString};

use oci_spec::runtime::Process;

use crate::spec::SpecError;

/// The JSON field of the AppArmor profile.
pub const APPARMOR_FIELD: &str = "process.apparmorProfile";
/// The JSON field of the SELinux process label.
pub const SELINUX_FIELD: &str = "process.selinuxLabel";
/// The JSON field of the SELinux mount label.
pub const MOUNT_LABEL_FIELD: &str = "linux.mountLabel";

/// Which LSMs the host runs, and the `/proc/self/attr` file each one reads its exec label from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Host {
    /// AppArmor's exec attribute, when AppArmor is enabled.
    pub apparmor: Option<&'static CStr>,
    /// SELinux's exec attribute, when SELinux is enabled.
    pub selinux: Option<&'static CStr>,
}

fn exists(p: &str) -> bool {
    std::path::Path::new(p).exists()
}

impl Host {
    /// Probe the running host as runc does: AppArmor when securityfs shows
    /// `/sys/kernel/security/apparmor` and `/sys/module/apparmor/parameters/enabled` reads `Y`;
    /// SELinux when selinuxfs is mounted (`/sys/fs/selinux/enforce`).
    pub fn probe() -> Host {
        let apparmor = exists("/sys/kernel/security/apparmor")
            && std::fs::read("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|b| b.first() == Some(&b'Y'));
        Host {
            apparmor: apparmor.then(|| {
                if exists("/proc/self/attr/apparmor/exec") {
                    c"/proc/self/attr/apparmor/exec"
                } else {
                    c"/proc/self/attr/exec"
                }
            }),
            selinux: exists("/sys/fs/selinux/enforce").then(|| {
                if exists("/proc/self/attr/selinux/exec") {
                    c"/proc/self/attr/selinux/exec"
                } else {
                    c"/proc/self/attr/exec"
                }
            }),
        }
    }

    /// The SELinux keyring-label attribute (next to the exec one).
    fn keycreate(&self) -> &'static CStr {
        if self.selinux == Some(c"/proc/self/attr/selinux/exec") {
            c"/proc/self/attr/selinux/keycreate"
        } else {
            c"/proc/self/attr/keycreate"
        }
    }
}

/// One write to a `/proc/self/attr` file.
#[derive(Debug, PartialEq, Eq)]
pub struct AttrWrite {
    /// The file.
    pub path: &'static CStr,
    /// What to write (no NUL, no newline).
    pub value: CString,
    /// The profile or label, for error messages.
    pub name: CString,
}

/// The LSM writes of one process.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LsmPlan {
    /// `exec <profile>` for AppArmor.
    pub apparmor: Option<AttrWrite>,
    /// The SELinux exec label.
    pub exec_label: Option<AttrWrite>,
    /// The SELinux label of the session keyring the init creates.
    pub key_label: Option<AttrWrite>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn name(s: &str, field: &str) -> Result<CString, SpecError> {
    CString::new(s).map_err(|_| SpecError::field(field, "contains a NUL byte"))
}

impl LsmPlan {
    /// Plan `process`'s profile and label, probing the host only when one is set.
    /// `new_keyring`: the init joins a fresh session keyring (labelled too, as runc).
    pub fn build(process: &Process, new_keyring: bool) -> Result<LsmPlan, SpecError> {
        let profile = non_empty(process.apparmor_profile());
        let label = non_empty(process.selinux_label());
        if profile.is_none() && label.is_none() {
            return Ok(LsmPlan::default());
        }
        LsmPlan::for_host(profile, label, new_keyring, &Host::probe())
    }

    /// [`LsmPlan::build`] for a given host (pure: unit-tested).
    pub fn for_host(
        profile: Option<&str>,
        label: Option<&str>,
        new_keyring: bool,
        host: &Host,
    ) -> Result<LsmPlan, SpecError> {
        let mut plan = LsmPlan::default();
        if let Some(p) = profile {
            let Some(path) = host.apparmor else {
                return Err(SpecError::field(
                    APPARMOR_FIELD,
                    format!(
                        "profile {p:?} given, but AppArmor is not enabled on this host \
                         (/sys/module/apparmor/parameters/enabled, /sys/kernel/security/apparmor)"
                    ),
                ));
            };
            plan.apparmor = Some(AttrWrite {
                path,
                value: name(&format!("exec {p}"), APPARMOR_FIELD)?,
                name: name(p, APPARMOR_FIELD)?,
            });
        }
        if let Some(l) = label {
            let Some(path) = host.selinux else {
                return Err(SpecError::field(
                    SELINUX_FIELD,
                    format!(
                        "label {l:?} given, but SELinux is disabled or not supported on this host \
                         (no /sys/fs/selinux/enforce)"
                    ),
                ));
            };
            let value = name(l, SELINUX_FIELD)?;
            if new_keyring {
                plan.key_label = Some(AttrWrite {
                    path: host.keycreate(),
                    value: value.clone(),
                    name: value.clone(),
                });
            }
            plan.exec_label = Some(AttrWrite {
                path,
                value: value.clone(),
                name: value,
            });
        }
        Ok(plan)
    }
}

/// `linux.mountLabel` on the host: refused, naming the field, when SELinux is not enabled.
pub fn check_mount_label(label: Option<&str>, host: &Host) -> Result<Option<String>, SpecError> {
    let Some(l) = label.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if host.selinux.is_none() {
        return Err(SpecError::field(
            MOUNT_LABEL_FIELD,
            format!(
                "label {l:?} given, but SELinux is disabled or not supported on this host \
                 (no /sys/fs/selinux/enforce)"
            ),
        ));
    }
    if l.contains(['"', '\n', '\0']) {
        return Err(SpecError::field(
            MOUNT_LABEL_FIELD,
            format!("label {l:?} cannot be quoted in a mount option"),
        ));
    }
    Ok(Some(l.to_string()))
}

/// Does a filesystem of this type get the mount label? Everything but `proc`, `sysfs` and cgroup
/// (which SELinux cannot label by mount option), as runc.
pub fn labels_fs(fstype: &[u8]) -> bool {
    !matches!(fstype, b"proc" | b"sysfs" | b"cgroup" | b"cgroup2")
}

/// Mount data with the SELinux `context` option appended (go-selinux's `FormatMountLabel`: the
/// label double-quoted, since it holds commas).
pub fn format_mount_label(data: Option<&str>, label: &str) -> String {
    match data.filter(|d| !d.is_empty()) {
        None => format!("context=\"{label}\""),
        Some(d) => format!("{d},context=\"{label}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPARMOR: Host = Host {
        apparmor: Some(c"/proc/self/attr/apparmor/exec"),
        selinux: None,
    };
    const SELINUX: Host = Host {
        apparmor: None,
        selinux: Some(c"/proc/self/attr/exec"),
    };

    #[test]
    fn apparmor_writes_exec_profile() {
        let p = LsmPlan::for_host(Some("sangja-test"), None, true, &APPARMOR).unwrap();
        let w = p.apparmor.unwrap();
        assert_eq!(w.path, c"/proc/self/attr/apparmor/exec");
        assert_eq!(w.value.as_bytes(), b"exec sangja-test");
        assert_eq!(w.name.as_bytes(), b"sangja-test");
        assert!(p.exec_label.is_none() && p.key_label.is_none());
        let old = Host {
            apparmor: Some(c"/proc/self/attr/exec"),
            selinux: None,
        };
        let w = LsmPlan::for_host(Some("a//b"), None, false, &old)
            .unwrap()
            .apparmor
            .unwrap();
        assert_eq!(
            (w.path, w.value.as_bytes()),
            (c"/proc/self/attr/exec", &b"exec a//b"[..])
        );
    }

    #[test]
    fn selinux_writes_label_and_key_label() {
        let l = "system_u:system_r:container_t:s0:c1,c2";
        let p = LsmPlan::for_host(None, Some(l), true, &SELINUX).unwrap();
        let e = p.exec_label.unwrap();
        assert_eq!(
            (e.path, e.value.as_bytes()),
            (c"/proc/self/attr/exec", l.as_bytes())
        );
        let k = p.key_label.unwrap();
        assert_eq!(
            (k.path, k.value.as_bytes()),
            (c"/proc/self/attr/keycreate", l.as_bytes())
        );
        let p = LsmPlan::for_host(None, Some(l), false, &SELINUX).unwrap();
        assert!(p.key_label.is_none() && p.exec_label.is_some());
    }

    #[test]
    fn disabled_lsm_is_refused_naming_the_field() {
        let none = Host::default();
        let e = LsmPlan::for_host(Some("p"), None, true, &none).unwrap_err();
        assert!(e.to_string().contains(APPARMOR_FIELD), "{e}");
        assert!(e.to_string().contains("\"p\""), "{e}");
        let e = LsmPlan::for_host(None, Some("l"), true, &APPARMOR).unwrap_err();
        assert!(e.to_string().contains(SELINUX_FIELD), "{e}");
        let e = LsmPlan::for_host(Some("p"), None, true, &SELINUX).unwrap_err();
        assert!(e.to_string().contains(APPARMOR_FIELD), "{e}");
        let e = check_mount_label(Some("l"), &APPARMOR).unwrap_err();
        assert!(e.to_string().contains(MOUNT_LABEL_FIELD), "{e}");
        assert_eq!(check_mount_label(Some(""), &none).unwrap(), None);
        assert_eq!(check_mount_label(None, &none).unwrap(), None);
        assert_eq!(
            LsmPlan::for_host(None, None, true, &none).unwrap(),
            LsmPlan::default()
        );
    }

    #[test]
    fn mount_label_is_a_quoted_context_option() {
        let l = "system_u:object_r:container_file_t:s0:c1,c2";
        assert_eq!(
            format_mount_label(Some("mode=755,size=65536k"), l),
            "mode=755,size=65536k,context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        assert_eq!(format_mount_label(None, l), format!("context=\"{l}\""));
        assert_eq!(format_mount_label(Some(""), l), format!("context=\"{l}\""));
        assert!(labels_fs(b"tmpfs") && labels_fs(b"devpts") && labels_fs(b"mqueue"));
        assert!(!labels_fs(b"proc") && !labels_fs(b"sysfs") && !labels_fs(b"cgroup2"));
        assert_eq!(
            check_mount_label(Some(l), &SELINUX).unwrap().as_deref(),
            Some(l)
        );
        assert!(check_mount_label(Some("a\"b"), &SELINUX).is_err());
    }
}
