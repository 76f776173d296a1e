//! Seccomp test helpers: a syscall probe the tests compile with the host's `cc`, and the default
//! profiles of Docker and podman, taken from Debian's packages and converted to `linux.seccomp` the
//! way those engines do for a default container.
//!
//! The probe (`/probe/probe` in the container, see [`mount_probe`]) makes raw syscalls given on its
//! command line and prints one line per call: `<spec> ok` or `<spec> -<errno>`. A spec is
//! `<abi>:<nr>[:<arg>...]`, abi `x64` (the `syscall` instruction), `x32` (the same with
//! `__X32_SYSCALL_BIT`) or `i386` (`int $0x80` from the 64-bit probe: the kernel sees an i386
//! syscall, `AUDIT_ARCH_I386`); an argument is a number (decimal or `0x` hex) or `@text`, a pointer
//! to that text in the probe's (non-PIE, so below 4 GiB) data. No 32-bit toolchain is needed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};

/// C source of the probe.
pub const PROBE_C: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static char strings[16][256];

static long sys_i386(long nr, unsigned long a, unsigned long b, unsigned long c,
                     unsigned long d, unsigned long e) {
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory", "cc", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
    return ret;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        char spec[512];
        strncpy(spec, argv[i], sizeof spec - 1);
        spec[sizeof spec - 1] = 0;
        unsigned long v[8] = {0};
        int n = 0, s = 0;
        char *save = NULL;
        char *abi = strtok_r(spec, ":", &save);
        for (char *t = strtok_r(NULL, ":", &save); t && n < 7; t = strtok_r(NULL, ":", &save)) {
            if (t[0] == '@' && s < 16) {
                strncpy(strings[s], t + 1, 255);
                v[n++] = (unsigned long)strings[s++];
            } else {
                v[n++] = strtoul(t, NULL, 0);
            }
        }
        long ret;
        if (strcmp(abi, "i386") == 0) {
            ret = sys_i386(v[0], v[1], v[2], v[3], v[4], v[5]);
            if (ret < 0 && ret > -4096) { errno = -ret; ret = -1; }
        } else if (strcmp(abi, "x32") == 0) {
            ret = syscall(v[0] | 0x40000000UL, v[1], v[2], v[3], v[4], v[5], v[6]);
        } else {
            ret = syscall(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
        }
        if (ret < 0)
            printf("%s -%d\n", argv[i], errno);
        else
            printf("%s ok\n", argv[i]);
    }
    return 0;
}
"#;

/// The directory holding the compiled probe (statically linked), built once and shared by every
/// test process, keyed on the source (FNV-1a), like the busybox rootfs.
pub fn probe_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let hash = PROBE_C.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let dir = std::env::temp_dir().join(format!("sangja-seccomp-probe-{hash:016x}"));
        if dir.join("probe").exists() {
            return dir;
        }
        let staging = std::env::temp_dir().join(format!(
            ".sangja-seccomp-probe-{hash:016x}.{}",
            std::process::id()
        ));
        fs::create_dir_all(&staging).expect("mkdir probe dir");
        let src = staging.join("probe.c");
        fs::write(&src, PROBE_C).expect("write probe.c");
        let out = Command::new("cc")
            .args(["-static", "-O1", "-fno-pie", "-no-pie", "-o"])
            .arg(staging.join("probe"))
            .arg(&src)
            .output()
            .expect(
                "run cc (the seccomp tests compile a static probe: apt-get install gcc libc6-dev)",
            );
        assert!(
            out.status.success(),
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // rename(2) is atomic: the first builder wins, later ones discard their copy.
        if fs::rename(&staging, &dir).is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        dir
    })
}

/// Bind-mounts the probe's directory at `/probe` in the bundle (the shared rootfs has the mount
/// point `/mnt/a`; a tmpfs at `/probe` would need a writable rootfs, so `/mnt/a` it is).
pub fn mount_probe(b: &mut crate::Bundle) -> &'static str {
    b.add_mount(json!({
        "destination": "/mnt/a", "type": "bind",
        "source": probe_dir().to_str().expect("UTF-8 path"), "options": ["rbind", "ro"]
    }));
    "/mnt/a/probe"
}

/// Debian packages carrying the engines' default profiles, and the profile's path inside.
const DOCKER_DEB: (&str, &str) = (
    "golang-github-docker-docker-dev",
    "usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json",
);
const PODMAN_DEB: (&str, &str) = (
    "golang-github-containers-common-dev",
    "usr/share/gocode/src/github.com/containers/common/pkg/seccomp/seccomp.json",
);

/// Where fetched profiles are kept between runs.
fn cache_dir() -> PathBuf {
    std::env::var_os("SANGJA_PROFILE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/sangja-seccomp-profiles"))
}

/// The raw profile JSON from a Debian package (downloaded with `apt-get download` on first use,
/// extracted with `dpkg-deb`; nothing is installed).
fn from_deb((package, inner): (&str, &str)) -> Result<Value, String> {
    let dir = cache_dir();
    let file = dir.join(format!("{package}.json"));
    if !file.exists() {
        let work = dir.join(format!(".{package}.{}", std::process::id()));
        fs::create_dir_all(&work).map_err(|e| format!("mkdir {}: {e}", work.display()))?;
        let download = || {
            Command::new("apt-get")
                .args(["download", package])
                .current_dir(&work)
                .output()
                .map_err(|e| format!("run apt-get download: {e}"))
        };
        if !download()?.status.success() {
            // The lists may be missing on a fresh machine.
            let _ = Command::new("apt-get").arg("update").output();
            let dl = download()?;
            if !dl.status.success() {
                return Err(format!(
                    "apt-get download {package}: {}",
                    String::from_utf8_lossy(&dl.stderr)
                ));
            }
        }
        let deb = fs::read_dir(&work)
            .map_err(|e| format!("read {}: {e}", work.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or_else(|| format!("apt-get download {package}: no .deb"))?;
        let x = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "dpkg-deb --fsys-tarfile '{deb}' | tar -xO './{inner}' > '{file}.tmp' && mv '{file}.tmp' '{file}'",
                deb = deb.display(),
                file = file.display()
            ))
            .output()
            .map_err(|e| format!("run dpkg-deb: {e}"))?;
        let _ = fs::remove_dir_all(&work);
        if !x.status.success() {
            return Err(format!(
                "extract {inner}: {}",
                String::from_utf8_lossy(&x.stderr)
            ));
        }
    }
    let text = fs::read_to_string(&file).map_err(|e| format!("read {}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Docker's default capabilities (what a `docker run` without `--cap-add` gets).
pub const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn kernel_at_least(min: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .take(2)
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    parse(&release) >= parse(min)
}

/// Converts an engine profile (Docker's format: `archMap`, per-entry `includes`/`excludes` by
/// capability, architecture and kernel) to the `linux.seccomp` an engine sends for a default
/// amd64 container with capabilities `caps`, as Docker's `setupSeccomp` does.
pub fn engine_to_oci(p: &Value, caps: &[&str]) -> Value {
    let arch = "amd64";
    let mut archs = vec![json!("SCMP_ARCH_X86_64")];
    for m in p["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            archs.extend(
                m["subArchitectures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    let has = |list: &Value, want: &str| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(want)))
    };
    let mut syscalls = Vec::new();
    for s in p["syscalls"].as_array().into_iter().flatten() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        if inc["arches"].is_array() && !has(&inc["arches"], arch) {
            continue;
        }
        if let Some(need) = inc["caps"].as_array() {
            if !need
                .iter()
                .all(|c| caps.contains(&c.as_str().unwrap_or("")))
            {
                continue;
            }
        }
        if let Some(k) = inc["minKernel"].as_str() {
            if !kernel_at_least(k) {
                continue;
            }
        }
        if has(&exc["arches"], arch) {
            continue;
        }
        if exc["caps"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| caps.contains(&c.as_str().unwrap_or(""))))
        {
            continue;
        }
        let mut e = json!({"names": s["names"], "action": s["action"]});
        if let Some(a) = s["args"].as_array().filter(|a| !a.is_empty()) {
            e["args"] = Value::Array(a.clone());
        }
        if let Some(r) = s.get("errnoRet").filter(|r| !r.is_null()) {
            e["errnoRet"] = r.clone();
        }
        syscalls.push(e);
    }
    let mut out = json!({
        "defaultAction": p["defaultAction"],
        "architectures": archs,
        "syscalls": syscalls,
    });
    if let Some(r) = p.get("defaultErrnoRet").filter(|r| !r.is_null()) {
        out["defaultErrnoRet"] = r.clone();
    }
    out
}

/// Docker's default profile (moby 20.10, Debian's `golang-github-docker-docker-dev`) as
/// `linux.seccomp` for a default container.
pub fn docker_default() -> Value {
    try_docker_default().unwrap_or_else(|e| panic!("Docker's seccomp profile: {e}"))
}

/// [`docker_default`], or why the profile could not be fetched.
pub fn try_docker_default() -> Result<Value, String> {
    static P: OnceLock<Result<Value, String>> = OnceLock::new();
    P.get_or_init(|| from_deb(DOCKER_DEB).map(|p| engine_to_oci(&p, DOCKER_CAPS)))
        .clone()
}

/// podman's default profile (containers/common 0.50, Debian's
/// `golang-github-containers-common-dev`) as `linux.seccomp` for a default container.
pub fn podman_default() -> Value {
    try_podman_default().unwrap_or_else(|e| panic!("podman's seccomp profile: {e}"))
}

/// [`podman_default`], or why the profile could not be fetched.
pub fn try_podman_default() -> Result<Value, String> {
    static P: OnceLock<Result<Value, String>> = OnceLock::new();
    P.get_or_init(|| from_deb(PODMAN_DEB).map(|p| engine_to_oci(&p, DOCKER_CAPS)))
        .clone()
}

/// One container process state a runtime sends to a seccomp agent (`listenerPath`): the JSON and
/// the listener fd passed with it (`SCM_RIGHTS`), read from the accepted connection `conn`.
pub fn recv_state(conn: i32) -> (Value, i32) {
    let mut data = vec![0u8; 64 * 1024];
    #[repr(C, align(8))]
    struct Cmsg([u8; 64]);
    let mut cbuf = Cmsg([0; 64]);
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the buffers outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len();
    // SAFETY: msg describes valid buffers.
    let n = unsafe { libc::recvmsg(conn, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(
        n > 0,
        "recvmsg from the runtime: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the control buffer was filled by the kernel; one SCM_RIGHTS fd is expected.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(
            !c.is_null(),
            "no fd passed with the container process state"
        );
        assert_eq!((*c).cmsg_type, libc::SCM_RIGHTS);
        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>())
    };
    let state = serde_json::from_slice(&data[..n as usize]).unwrap_or_else(|e| {
        panic!(
            "container process state is not JSON ({e}): {}",
            String::from_utf8_lossy(&data[..n as usize])
        )
    });
    (state, fd)
}
