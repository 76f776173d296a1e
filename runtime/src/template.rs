//! The `config.json` that `sangja spec` writes: runc's `spec` template, byte for byte.
//!
//! Tools and tutorials start from `runc spec` output and then edit fields by JSON path
//! (`jq '.process.args = ["sh"]'`), so the text — keys in runc's order, tab indentation, no trailing
//! newline — is kept exactly as runc 1.1 writes it. The only difference is `ociVersion`, which is
//! ours ([`crate::spec::OCI_VERSION`]). `serde_json` without `preserve_order` would sort the keys, so the
//! document is a text template assembled at compile time from shared and per-mode pieces.

/// The start of the document up to the first mount that differs: `ociVersion`, `process`, `root`, `hostname`, `/proc`, `/dev`.
macro_rules! head {
    () => {
        r#"{
	"ociVersion": "@OCI_VERSION@",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
"#
    };
}

/// `/dev/pts` with `gid=5` (the `tty` group, which exists only with a full id range).
macro_rules! devpts_root {
    () => {
        r#"		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
"#
    };
}

/// `/dev/pts` without `gid=5`: a single-id user namespace has no group 5 to give the ptys to.
macro_rules! devpts_rootless {
    () => {
        r#"		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620"
			]
		},
"#
    };
}

/// `/dev/shm` and `/dev/mqueue`, the same in both templates.
macro_rules! shm_mqueue {
    () => {
        r#"		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
"#
    };
}

/// A fresh read-only `sysfs`, which the kernel allows because the container has its own network namespace.
macro_rules! sysfs_root {
    () => {
        r#"		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
"#
    };
}

/// A recursive read-only bind of the host's `/sys`: an unprivileged user cannot mount sysfs without its own netns.
macro_rules! sysfs_rootless {
    () => {
        r#"		{
			"destination": "/sys",
			"type": "none",
			"source": "/sys",
			"options": [
				"rbind",
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
"#
    };
}

/// The read-only `/sys/fs/cgroup` mount, the end of `mounts` and the opening of `linux`.
macro_rules! cgroup {
    () => {
        r#"		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
"#
    };
}

/// `linux.resources` denying every device, and the namespaces `pid network ipc uts mount`.
macro_rules! linux_root {
    () => {
        r#"		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			}
		],
"#
    };
}

/// Id mappings of the caller to root, no `resources` (no cgroup rights), the host network, and a user namespace.
macro_rules! linux_rootless {
    () => {
        r#"		"uidMappings": [
			{
				"containerID": 0,
				"hostID": @UID@,
				"size": 1
			}
		],
		"gidMappings": [
			{
				"containerID": 0,
				"hostID": @GID@,
				"size": 1
			}
		],
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			},
			{
				"type": "user"
			}
		],
"#
    };
}

/// `maskedPaths`, `readonlyPaths` and the closing braces, the same in both templates (no trailing newline, as runc).
macro_rules! tail {
    () => {
        r#"		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}"#
    };
}

/// runc's `spec` template for a privileged (root) container.
const ROOT_TEMPLATE: &str = concat!(
    head!(),
    devpts_root!(),
    shm_mqueue!(),
    sysfs_root!(),
    cgroup!(),
    linux_root!(),
    tail!()
);

/// runc's `spec --rootless` template: its `ToRootless` applied to the root template.
const ROOTLESS_TEMPLATE: &str = concat!(
    head!(),
    devpts_rootless!(),
    shm_mqueue!(),
    sysfs_rootless!(),
    cgroup!(),
    linux_rootless!(),
    tail!()
);

/// The text of a default `config.json`, as `runc spec` (or `runc spec --rootless`) writes it.
///
/// The rootless variant maps container root to the caller's effective uid and gid (runc's
/// `os.Geteuid()`), drops the network namespace and cgroup resources, and adds a user namespace, so
/// an unprivileged user can run the bundle as is. The result has no trailing newline, like runc's.
pub fn default_spec(rootless: bool) -> String {
    let text = if rootless {
        ROOTLESS_TEMPLATE
            .replacen("@UID@", &nix::unistd::geteuid().to_string(), 1)
            .replacen("@GID@", &nix::unistd::getegid().to_string(), 1)
    } else {
        ROOT_TEMPLATE.to_string()
    };
    text.replacen("@OCI_VERSION@", crate::spec::OCI_VERSION, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(rootless: bool) -> Value {
        let text = default_spec(rootless);
        assert!(!text.contains('@'), "placeholder left in the template");
        match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("template is not JSON: {e}"),
        }
    }

    fn namespaces(v: &Value) -> Vec<&str> {
        v["linux"]["namespaces"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["type"].as_str()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn root_template_fields() {
        let v = parse(false);
        assert_eq!(v["ociVersion"], crate::spec::OCI_VERSION);
        assert_eq!(v["process"]["args"], serde_json::json!(["sh"]));
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["root"]["path"], "rootfs");
        assert_eq!(v["root"]["readonly"], true);
        assert_eq!(v["hostname"], "runc");
        assert_eq!(v["mounts"].as_array().map(Vec::len), Some(7));
        assert_eq!(v["linux"]["resources"]["devices"][0]["access"], "rwm");
        assert_eq!(namespaces(&v), ["pid", "network", "ipc", "uts", "mount"]);
        assert!(v["linux"].get("uidMappings").is_none());
        assert_eq!(v["linux"]["maskedPaths"].as_array().map(Vec::len), Some(10));
        assert_eq!(
            v["linux"]["readonlyPaths"].as_array().map(Vec::len),
            Some(5)
        );
    }

    #[test]
    fn rootless_template_fields() {
        let v = parse(true);
        assert_eq!(v["ociVersion"], crate::spec::OCI_VERSION);
        assert_eq!(namespaces(&v), ["pid", "ipc", "uts", "mount", "user"]);
        assert!(v["linux"].get("resources").is_none());
        let uid = u64::from(nix::unistd::geteuid().as_raw());
        let gid = u64::from(nix::unistd::getegid().as_raw());
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"].as_u64(), Some(uid));
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"].as_u64(), Some(gid));
        assert_eq!(v["linux"]["uidMappings"][0]["size"], 1);
        assert_eq!(v["mounts"][5]["source"], "/sys");
        assert_eq!(v["mounts"][5]["options"][0], "rbind");
        assert!(!v["mounts"][2]["options"].to_string().contains("gid=5"));
    }

    #[test]
    fn text_shape_is_runcs() {
        let text = default_spec(false);
        assert!(text.starts_with("{\n\t\"ociVersion\": \""));
        assert!(text.contains("\n\t\"process\": {\n\t\t\"terminal\": true,\n"));
        assert!(text.ends_with("\n\t}\n}"), "no trailing newline, as runc");
        // Keys in runc's order, not sorted.
        let pos = |k: &str| text.find(k).unwrap_or(usize::MAX);
        assert!(pos("\"ociVersion\"") < pos("\"process\""));
        assert!(pos("\"process\"") < pos("\"root\""));
        assert!(pos("\"hostname\"") < pos("\"mounts\""));
        assert!(pos("\"mounts\"") < pos("\"linux\""));
    }
}
