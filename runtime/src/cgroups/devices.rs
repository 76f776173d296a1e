//! Device access rules: `linux.resources.devices` in order, then runc's default allowed devices
//! appended (so, as with runc 1.1, a config cannot take them away). On v1 they are written to
//! `devices.deny`/`devices.allow` after a deny-all; the resulting `devices.list` for `runc spec`'s
//! config is the one runc 1.1.5 produces:
//!
//! ```text
//! b *:* m   c *:* m   c 1:3 rwm   c 1:5 rwm   c 1:7 rwm   c 1:8 rwm   c 1:9 rwm
//! c 5:0 rwm   c 5:2 rwm   c 10:200 rwm   c 136:* rwm
//! ```
//!
//! Unlike runc 1.1.5, a `linux.devices` entry for `/dev/null` (or another default path) does not
//! drop the default rule for it (runc then fails with "error reopening /dev/null").
//! cgroup2 needs an eBPF program (`BPF_PROG_TYPE_CGROUP_DEVICE`) built from the same rules: not
//! yet part of this build.
use std::borrow::Cow;
use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::CgroupError;

/// One device rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Allow (else deny).
    pub allow: bool,
    /// `a`, `b` or `c`.
    pub typ: char,
    /// Major; `None` is any.
    pub major: Option<i64>,
    /// Minor; `None` is any.
    pub minor: Option<i64>,
    /// Some of `rwm`.
    pub access: Cow<'static, str>,
    /// JSON path of the rule (the defaults name the spec's list they extend).
    pub field: Cow<'static, str>,
}

impl fmt::Display for Rule {
    /// The kernel's rule syntax: `c 1:3 rwm`, `b *:* m`, `a *:* rwm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

const DEFAULT_FIELD: &str = "linux.resources.devices (runc's default allowed devices)";

const fn allow(typ: char, major: Option<i64>, minor: Option<i64>, access: &'static str) -> Rule {
    Rule {
        allow: true,
        typ,
        major,
        minor,
        access: Cow::Borrowed(access),
        field: Cow::Borrowed(DEFAULT_FIELD),
    }
}

/// runc 1.1's `AllowedDevices` (mknod of anything; null, zero, full, random, urandom, tty, ptmx,
/// tun, pts), in the order runc's `devices.list` shows them. They do not overlap, so their order
/// only shows in `devices.list`.
pub(crate) const DEFAULT_RULES: [Rule; 11] = [
    allow('b', None, None, "m"),
    allow('c', None, None, "m"),
    allow('c', Some(1), Some(3), "rwm"),
    allow('c', Some(1), Some(5), "rwm"),
    allow('c', Some(1), Some(7), "rwm"),
    allow('c', Some(1), Some(8), "rwm"),
    allow('c', Some(1), Some(9), "rwm"),
    allow('c', Some(5), Some(0), "rwm"),
    allow('c', Some(5), Some(2), "rwm"),
    allow('c', Some(10), Some(200), "rwm"),
    allow('c', Some(136), None, "rwm"),
];

/// The rules for a container: the config's, validated, then the defaults.
pub(crate) fn rules(spec: Option<&[LinuxDeviceCgroup]>) -> Result<Vec<Rule>, CgroupError> {
    let mut out = Vec::with_capacity(spec.map_or(0, <[_]>::len) + DEFAULT_RULES.len());
    for (i, d) in spec.unwrap_or_default().iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C => 'c',
            other => {
                return Err(CgroupError::Invalid {
                    field: format!("{field}.type"),
                    reason: format!(
                        "{:?} is not a cgroup device type (a, b or c)",
                        other.as_str()
                    ),
                })
            }
        };
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(CgroupError::Invalid {
                field: format!("{field}.access"),
                reason: format!("{access:?} must be a combination of r, w and m"),
            });
        }
        out.push(Rule {
            allow: d.allow(),
            typ,
            major: d.major().filter(|&m| m >= 0),
            minor: d.minor().filter(|&m| m >= 0),
            access: Cow::Owned(access),
            field: Cow::Owned(field),
        });
    }
    out.extend(DEFAULT_RULES.iter().cloned());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_in_kernel_syntax() {
        let r: Vec<String> = DEFAULT_RULES.iter().map(|r| r.to_string()).collect();
        assert_eq!(r[0], "b *:* m");
        assert_eq!(r[2], "c 1:3 rwm");
        assert_eq!(r[10], "c 136:* rwm");
    }

    #[test]
    fn config_rules_come_first_and_are_validated() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":7,"access":"r"}]"#,
        )
        .unwrap_or_default();
        let r = rules(Some(&spec)).unwrap_or_default();
        assert_eq!(r.len(), 2 + DEFAULT_RULES.len());
        assert_eq!(r[0].to_string(), "a *:* rwm");
        assert!(!r[0].allow);
        assert_eq!(r[1].to_string(), "b 7:* r");
        let bad: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"type":"c","access":"rwx"}]"#)
                .unwrap_or_default();
        let e = rules(Some(&bad)).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("linux.resources.devices[0].access")),
            "{e:?}"
        );
    }
}
