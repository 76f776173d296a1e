//! Container images built offline from the shared busybox rootfs ([`crate::rootfs::shared`]): a plain
//! rootfs tarball (for `docker import`) and an OCI image layout tarball (for `ctr image import`).
//! Both return an error instead of panicking: the benchmark builds them (`panic = "abort"`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `tar` with root-owned entries: `tar <args>`.
fn tar(args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let o = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0"])
        .args(args)
        .output()
        .map_err(|e| format!("spawn tar: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tar {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Tars directory `src` into `dest`, entries owned by root.
fn tar_dir(src: &Path, dest: &Path) -> Result<(), String> {
    tar(&[
        "-C".as_ref(),
        src.as_os_str(),
        "-cf".as_ref(),
        dest.as_os_str(),
        ".".as_ref(),
    ])
}

/// The shared busybox rootfs as `<dir>/rootfs.tar` (entries owned by root).
pub fn rootfs_tarball(dir: &Path) -> Result<PathBuf, String> {
    let tar = dir.join("rootfs.tar");
    tar_dir(crate::rootfs::try_shared()?, &tar)?;
    Ok(tar)
}

fn sha256_file(p: &Path) -> Result<String, String> {
    let o = Command::new("sha256sum")
        .arg(p)
        .output()
        .map_err(|e| format!("spawn sha256sum: {e}"))?;
    if !o.status.success() {
        return Err(format!("sha256sum {}", p.display()));
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Moves `src` to `<layout>/blobs/sha256/<digest>`; returns (`sha256:<digest>`, size).
fn put_blob(layout: &Path, src: &Path) -> Result<(String, u64), String> {
    let d = sha256_file(src)?;
    let size = fs::metadata(src)
        .map_err(|e| format!("blob {}: {e}", src.display()))?
        .len();
    fs::rename(src, layout.join("blobs/sha256").join(&d))
        .map_err(|e| format!("move blob {}: {e}", src.display()))?;
    Ok((format!("sha256:{d}"), size))
}

fn write_json(p: &Path, v: &serde_json::Value) -> Result<(), String> {
    fs::write(p, v.to_string()).map_err(|e| format!("write {}: {e}", p.display()))
}

/// An OCI image-layout tarball `<dir>/image.tar` holding image `name` (`io.containerd.image.name`,
/// for `ctr image import`): one uncompressed layer (the busybox rootfs), `PATH=/bin`, default
/// command `cmd`. Work files go to `dir`.
pub fn oci_archive(dir: &Path, name: &str, cmd: &[&str]) -> Result<PathBuf, String> {
    let layout = dir.join("layout");
    fs::create_dir_all(layout.join("blobs/sha256"))
        .map_err(|e| format!("create {}: {e}", layout.display()))?;
    let (layer_digest, layer_size) = put_blob(&layout, &rootfs_tarball(dir)?)?;
    let cfg = dir.join("config.json");
    write_json(
        &cfg,
        &serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": cmd, "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }),
    )?;
    let (cfg_digest, cfg_size) = put_blob(&layout, &cfg)?;
    let man = dir.join("manifest.json");
    write_json(
        &man,
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
        }),
    )?;
    let (man_digest, man_size) = put_blob(&layout, &man)?;
    write_json(
        &layout.join("index.json"),
        &serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_digest, "size": man_size,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"},
            }],
        }),
    )?;
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(|e| format!("oci-layout: {e}"))?;
    let tarball = dir.join("image.tar");
    tar_dir(&layout, &tarball)?;
    Ok(tarball)
}
