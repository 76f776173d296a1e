//! The default bundle configuration: exactly what `runc spec` (runc 1.1.5) writes, so every test starts from
//! the config real users start from. Tests edit it as a [`serde_json::Value`].

use serde_json::Value;

/// `runc spec` output, verbatim (runc 1.1.5, `spec: 1.0.2-dev`).
pub const RUNC_SPEC_JSON: &str = r#"{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "user": { "uid": 0, "gid": 0 },
    "args": [ "sh" ],
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "TERM=xterm"
    ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
    },
    "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "runc",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": [ "nosuid", "noexec", "nodev" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {
    "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
      "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    ],
    "readonlyPaths": [ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" ]
  }
}"#;

/// The `runc spec` config as a JSON value.
pub fn runc_spec() -> Value {
    serde_json::from_str(RUNC_SPEC_JSON).expect("RUNC_SPEC_JSON is valid JSON")
}

/// Sets the value at a JSON pointer (`/process/user/uid`), creating missing objects on the way.
/// A numeric segment indexes an existing array.
pub fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    assert!(
        pointer.starts_with('/'),
        "JSON pointer must start with '/': {pointer}"
    );
    let segments: Vec<String> = pointer[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let (last, parents) = segments.split_last().expect("pointer has a segment");
    let mut cur = root;
    for seg in parents {
        cur = child_mut(cur, seg, pointer);
    }
    match cur {
        Value::Array(items) => {
            let idx: usize = last.parse().expect("array index in JSON pointer");
            items[idx] = value;
        }
        other => {
            if !other.is_object() {
                *other = Value::Object(Default::default());
            }
            other
                .as_object_mut()
                .expect("object")
                .insert(last.clone(), value);
        }
    }
}

fn child_mut<'a>(cur: &'a mut Value, seg: &str, pointer: &str) -> &'a mut Value {
    match cur {
        Value::Array(items) => {
            let idx: usize = seg
                .parse()
                .unwrap_or_else(|_| panic!("segment {seg:?} of {pointer} indexes an array"));
            &mut items[idx]
        }
        other => {
            if !other.is_object() {
                *other = Value::Object(Default::default());
            }
            other
                .as_object_mut()
                .expect("object")
                .entry(seg.to_string())
                .or_insert(Value::Object(Default::default()))
        }
    }
}

/// Removes the value at a JSON pointer, if present.
pub fn remove_pointer(root: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').expect("pointer has a segment");
    let Some(parent) = (if parent.is_empty() {
        Some(root)
    } else {
        root.pointer_mut(parent)
    }) else {
        return;
    };
    match parent {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) => {
            if let Ok(idx) = last.parse::<usize>() {
                if idx < items.len() {
                    items.remove(idx);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_and_remove() {
        let mut v = runc_spec();
        set_pointer(&mut v, "/process/user/umask", json!(63));
        set_pointer(&mut v, "/linux/resources/memory/limit", json!(1));
        set_pointer(&mut v, "/mounts/0/source", json!("p"));
        assert_eq!(v["process"]["user"]["umask"], 63);
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 1);
        assert_eq!(v["mounts"][0]["source"], "p");
        remove_pointer(&mut v, "/process/args");
        assert!(v["process"].get("args").is_none());
        remove_pointer(&mut v, "/mounts/0");
        assert_eq!(v["mounts"][0]["destination"], "/dev");
    }
}
