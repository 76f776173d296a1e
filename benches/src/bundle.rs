//! The benchmark bundles: a busybox-static rootfs (the host's `/bin/busybox`, Debian's `busybox-static`, one
//! symlink per applet) and `config.json` exactly as `runc spec` writes it, with `terminal: false` and the
//! process args replaced (`/bin/true` for the lifecycle, `sleep` for `state`/`kill`).

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn ctx<T>(r: io::Result<T>, what: impl FnOnce() -> String) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", what()))
}

/// Builds a busybox rootfs at `dest` (must not exist).
pub fn build_rootfs(dest: &Path, busybox: &Path) -> Result<(), String> {
    let bin = dest.join("bin");
    ctx(fs::create_dir_all(&bin), || {
        format!("mkdir {}", bin.display())
    })?;
    let target = bin.join("busybox");
    ctx(fs::copy(busybox, &target), || {
        format!(
            "copy {} (apt-get install busybox-static)",
            busybox.display()
        )
    })?;
    ctx(
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)),
        || "chmod busybox".into(),
    )?;
    let list = ctx(Command::new(busybox).arg("--list").output(), || {
        format!("{} --list", busybox.display())
    })?;
    let applets = String::from_utf8_lossy(&list.stdout);
    let mut count = 0;
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        ctx(symlink("busybox", bin.join(applet)), || {
            format!("symlink {applet}")
        })?;
        count += 1;
    }
    if count < 100 {
        return Err(format!(
            "{} lists only {count} applets: is it busybox-static?",
            busybox.display()
        ));
    }
    for dir in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        ctx(fs::create_dir_all(dest.join(dir)), || {
            format!("mkdir {dir}")
        })?;
    }
    ctx(
        fs::set_permissions(dest.join("tmp"), fs::Permissions::from_mode(0o1777)),
        || "chmod tmp".into(),
    )?;
    ctx(
        fs::write(dest.join("etc/passwd"), spec_tests::rootfs::PASSWD),
        || "write etc/passwd".into(),
    )?;
    ctx(
        fs::write(dest.join("etc/group"), spec_tests::rootfs::GROUP),
        || "write etc/group".into(),
    )
}

/// `runc spec`'s config with `terminal: false` and `args`.
pub fn config(args: &[&str]) -> Result<Value, String> {
    let mut v: Value = serde_json::from_str(spec_tests::config::RUNC_SPEC_JSON)
        .map_err(|e| format!("runc spec JSON: {e}"))?;
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(args);
    Ok(v)
}

/// A bundle directory with its own rootfs (so `root.path` stays `rootfs`, as `runc spec` writes it).
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
}

impl Bundle {
    /// Creates `dir` with `rootfs/` and `config.json` running `args`.
    pub fn create(dir: &Path, busybox: &Path, args: &[&str]) -> Result<Bundle, String> {
        build_rootfs(&dir.join("rootfs"), busybox)?;
        let cfg = config(args)?;
        let text = serde_json::to_string_pretty(&cfg).map_err(|e| e.to_string())?;
        ctx(fs::write(dir.join("config.json"), text), || {
            format!("write {}/config.json", dir.display())
        })?;
        Ok(Bundle {
            dir: dir.to_path_buf(),
        })
    }

    /// Like [`Bundle::create`], with a new user namespace mapping container ids 0–65535 to host
    /// ids 100000–165535.
    pub fn create_userns(dir: &Path, busybox: &Path, args: &[&str]) -> Result<Bundle, String> {
        let b = Bundle::create(dir, busybox, args)?;
        let mut cfg = config(args)?;
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        cfg["linux"]["uidMappings"] = map.clone();
        cfg["linux"]["gidMappings"] = map;
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            ns.push(json!({"type": "user"}));
        }
        let text = serde_json::to_string_pretty(&cfg).map_err(|e| e.to_string())?;
        ctx(fs::write(dir.join("config.json"), text), || {
            format!("write {}/config.json", dir.display())
        })?;
        Ok(b)
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_runc_spec_with_args_and_no_terminal() {
        let v = config(&["/bin/true"]).expect("config");
        assert_eq!(v["process"]["terminal"], json!(false));
        assert_eq!(v["process"]["args"], json!(["/bin/true"]));
        assert_eq!(v["root"]["path"], json!("rootfs"));
        assert_eq!(v["linux"]["namespaces"].as_array().map(Vec::len), Some(5));
    }
}
