//! `linux.sysctl` as runc validates it (libcontainer/configs/validate): a sysctl is written only
//! in a kernel namespace the container owns, because the init writes it through `/proc/sys` and a
//! host namespace would make it a host-wide change.
//!
//! - IPC sysctls (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`): a new ipc namespace,
//!   or a joined one (`path`) that is not the host's;
//! - `net.*`: a new network namespace, or a joined one that is not the host's (runc compares the
//!   device and inode of the path with `/proc/self/ns/net`; so do we, for every kind);
//! - `kernel.hostname`, `kernel.domainname`: the container's UTS namespace (and not together with
//!   the OCI field of the same name, which runc calls a conflict);
//! - anything else (`vm.swappiness`, `kernel.core_pattern`) is host-global: refused.
//!
//! Keys are dot-separated names: no `/`, no empty component (hence no `..`), no NUL, so that the
//! `/proc/sys/...` path the plan builds cannot walk out of the namespaced subtree.
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::{Linux, LinuxNamespaceType};

use super::SpecError;

/// The IPC sysctls runc allows besides `fs.mqueue.*`.
const IPC: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Is `path` the namespace of kind `kind` (`ipc`, `net`, `uts`) this process is in? The real probe
/// compares device and inode with `/proc/self/ns/<kind>`; tests pass a fake.
pub(crate) type SameAsOwn<'a> = &'a dyn Fn(&Path, &str) -> io::Result<bool>;

/// The host probe: `stat` both files and compare (dev, ino), as runc's `isHostNetNS`.
pub(crate) fn same_as_own(path: &Path, kind: &str) -> io::Result<bool> {
    let own = std::fs::metadata(format!("/proc/self/ns/{kind}"))?;
    let other = std::fs::metadata(path)?;
    Ok(own.dev() == other.dev() && own.ino() == other.ino())
}

/// The namespace a sysctl lives in, with its `/proc/self/ns` name and runc's refusal.
struct Owner {
    typ: LinuxNamespaceType,
    proc_name: &'static str,
    host_message: &'static str,
}

fn owner_of(key: &str) -> Option<Owner> {
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(Owner {
            typ: LinuxNamespaceType::Ipc,
            proc_name: "ipc",
            host_message: "is not allowed in the hosts ipc namespace",
        })
    } else if key.starts_with("net.") {
        Some(Owner {
            typ: LinuxNamespaceType::Network,
            proc_name: "net",
            host_message: "not allowed in host network namespace",
        })
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(Owner {
            typ: LinuxNamespaceType::Uts,
            proc_name: "uts",
            host_message: "is not in a separate kernel namespace",
        })
    } else {
        None
    }
}

/// A key the plan may turn into `/proc/sys/<a>/<b>/...`: dot-separated, non-empty names.
fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.contains(['/', '\0']) || key.split('.').any(str::is_empty) {
        return Err(format!(
            "invalid sysctl key {key:?}: expected dot-separated names (no \"/\", no empty \
             component, no \"..\")"
        ));
    }
    Ok(())
}

/// Does the container own its namespace of `owner`'s kind? `Err` is a stat failure of a path,
/// naming the field.
fn owns(linux: &Linux, owner: &Owner, same: SameAsOwn<'_>) -> Result<bool, SpecError> {
    let nss = linux.namespaces().as_deref().unwrap_or(&[]);
    let Some((i, ns)) = nss.iter().enumerate().find(|(_, n)| n.typ() == owner.typ) else {
        return Ok(false);
    };
    match ns.path() {
        None => Ok(true),
        Some(p) => match same(p, owner.proc_name) {
            Ok(host) => Ok(!host),
            Err(e) => Err(SpecError::field(
                format!("linux.namespaces[{i}].path"),
                format!("stat {}: {e}", p.display()),
            )),
        },
    }
}

/// Validate `linux.sysctl`: key syntax, then the namespace each key needs. `hostname` and
/// `domainname` tell whether the OCI fields of the same name are set (non-empty).
pub(crate) fn check(
    linux: &Linux,
    hostname: bool,
    domainname: bool,
    same: SameAsOwn<'_>,
) -> Result<(), SpecError> {
    let Some(map) = linux.sysctl() else {
        return Ok(());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("linux.sysctl.{key}");
        check_key(key).map_err(|m| SpecError::field(&field, m))?;
        let refuse = |why: &str| Err(SpecError::field(&field, format!("sysctl {key:?} {why}")));
        let Some(owner) = owner_of(key) else {
            return refuse("is not in a separate kernel namespace");
        };
        if !owns(linux, &owner, same)? {
            return refuse(owner.host_message);
        }
        let conflict = match key.as_str() {
            "kernel.hostname" if hostname => Some("hostname"),
            "kernel.domainname" if domainname => Some("domainname"),
            _ => None,
        };
        if let Some(f) = conflict {
            return refuse(&format!(
                "is not allowed as it conflicts with the OCI {f:?} field"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: serde_json::Value) -> Linux {
        serde_json::from_value(json).expect("linux section")
    }

    /// A probe for which `/host/<kind>` is the host's namespace and anything else is not.
    fn fake(path: &Path, kind: &str) -> io::Result<bool> {
        if path.starts_with("/missing") {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok(path == Path::new("/host").join(kind))
    }

    fn err(l: &Linux, hostname: bool) -> String {
        check(l, hostname, false, &fake)
            .expect_err("refused")
            .to_string()
    }

    const ALL_NEW: &str = r#"[{"type":"mount"},{"type":"ipc"},{"type":"network"},{"type":"uts"}]"#;

    fn with(ns: &str, sysctl: serde_json::Value) -> Linux {
        let ns: serde_json::Value = serde_json::from_str(ns).expect("namespaces");
        linux(serde_json::json!({"namespaces": ns, "sysctl": sysctl}))
    }

    #[test]
    fn namespaced_sysctls_in_new_namespaces_pass() {
        let l = with(
            ALL_NEW,
            serde_json::json!({"kernel.msgmax": "4096", "fs.mqueue.msg_max": "10",
                "net.ipv4.ip_forward": "1", "kernel.domainname": "d", "kernel.hostname": "h"}),
        );
        check(&l, false, false, &fake).expect("allowed");
    }

    #[test]
    fn host_global_sysctls_are_refused_with_runcs_wording() {
        for key in [
            "vm.swappiness",
            "kernel.core_pattern",
            "kernel.msgmaxx",
            "fs.file-max",
        ] {
            let l = with(ALL_NEW, serde_json::json!({key: "1"}));
            assert_eq!(
                err(&l, false),
                format!(
                    "config.json: linux.sysctl.{key}: sysctl {key:?} is not in a separate \
                     kernel namespace"
                )
            );
        }
    }

    #[test]
    fn each_kind_needs_its_own_namespace() {
        let none = r#"[{"type":"mount"}]"#;
        let cases = [
            ("kernel.shmmax", "is not allowed in the hosts ipc namespace"),
            (
                "fs.mqueue.queues_max",
                "is not allowed in the hosts ipc namespace",
            ),
            (
                "net.core.somaxconn",
                "not allowed in host network namespace",
            ),
            ("kernel.hostname", "is not in a separate kernel namespace"),
            ("kernel.domainname", "is not in a separate kernel namespace"),
        ];
        for (key, why) in cases {
            let l = with(none, serde_json::json!({key: "1"}));
            let e = err(&l, false);
            assert!(
                e.contains(&format!("linux.sysctl.{key}: sysctl {key:?} {why}")),
                "{e}"
            );
        }
    }

    #[test]
    fn joined_namespaces_count_unless_they_are_the_hosts() {
        let joined = r#"[{"type":"mount"},{"type":"ipc","path":"/run/ipc"},
            {"type":"network","path":"/run/netns/a"},{"type":"uts","path":"/run/uts"}]"#;
        let l = with(
            joined,
            serde_json::json!({"kernel.sem": "1", "net.ipv4.ip_forward": "1", "kernel.domainname": "d"}),
        );
        check(&l, false, false, &fake).expect("joined namespaces are the container's");
        for (kind, typ, key) in [
            ("net", "network", "net.ipv4.ip_forward"),
            ("ipc", "ipc", "kernel.sem"),
            ("uts", "uts", "kernel.domainname"),
        ] {
            let ns = format!(r#"[{{"type":"mount"}},{{"type":"{typ}","path":"/host/{kind}"}}]"#);
            let e = err(&with(&ns, serde_json::json!({key: "1"})), false);
            assert!(e.contains(&format!("linux.sysctl.{key}:")), "{e}");
        }
        let ns = r#"[{"type":"mount"},{"type":"network","path":"/missing/net"}]"#;
        let e = err(
            &with(ns, serde_json::json!({"net.ipv4.ip_forward": "1"})),
            false,
        );
        assert!(
            e.contains("linux.namespaces[1].path: stat /missing/net"),
            "{e}"
        );
    }

    #[test]
    fn hostname_sysctl_conflicts_with_the_hostname_field() {
        let l = with(ALL_NEW, serde_json::json!({"kernel.hostname": "h"}));
        assert!(err(&l, true).contains("conflicts with the OCI \"hostname\" field"));
    }

    #[test]
    fn keys_that_could_walk_out_of_proc_sys_are_refused() {
        for key in [
            "net/../vm/swappiness",
            "net.ipv4.conf.eth0/1.forwarding",
            "net..vm",
            "net.",
            ".net.x",
            "",
            "net.a\0b",
        ] {
            let l = with(ALL_NEW, serde_json::json!({key: "1"}));
            let e = err(&l, false);
            assert!(e.contains("invalid sysctl key"), "{key:?}: {e}");
            // Control characters in the field are escaped (`\0` as `\u{0}`): the error is one line.
            let field = crate::spec::json::escape_controls(&format!("linux.sysctl.{key}:"));
            assert!(e.contains(&field), "{key:?}: {e}");
        }
    }

    #[test]
    fn the_real_probe_knows_our_own_namespace() {
        assert!(same_as_own(Path::new("/proc/self/ns/net"), "net").expect("stat"));
        assert!(!same_as_own(Path::new("/proc/self/ns/ipc"), "net").expect("stat"));
        assert!(same_as_own(Path::new("/no/such/ns"), "net").is_err());
    }
}
