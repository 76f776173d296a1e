//! Keep containers from writing the runtime's own executable (CVE-2019-5736).
//!
//! sangja forks the container init and `exec` children from the runtime process itself, so until
//! their `execve` their `/proc/<pid>/exe` is the runtime binary. The processes are non-dumpable,
//! which closes `/proc/<pid>/exe` to the container, but `execve` of an image file that is a
//! `#!/proc/self/exe` script (or an ELF whose interpreter is `/proc/self/exe`) makes the kernel
//! open *our* executable as the interpreter: the container then runs the runtime binary, dumpable,
//! and can hold `/proc/<pid>/exe` open until the runtime exits and reopen it for writing, replacing
//! the host's binary. (runc and crun have the same exposure and the same kind of fix.)
//!
//! The fix: the processes that enter containers (`create`, `run`, `exec`) run from a view of the
//! binary that cannot be written through. [`ensure_sealed`] checks `/proc/self/exe` with one
//! `statfs`; when it is already on a read-only mount (or is a write-sealed memfd) nothing happens.
//! Otherwise the process re-executes itself, once, from
//!
//! 1. a private, detached, read-only **overlayfs** whose top layer is the binary's directory: no
//!    copy, shares the page cache, and unlike a read-only bind mount it cannot be remounted
//!    writable to reach the file below (an overlay without an upper layer has nowhere to write).
//!    overlayfs needs a second layer below: `/run` when only root can write it (as runc uses its
//!    state directory), else an empty detached tmpfs (only newer kernels take detached layers);
//! 2. else (no overlayfs, no `CAP_SYS_ADMIN`, binary deleted) a **sealed memfd** copy of the binary
//!    (`F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`).
//!
//! Installing the binary on a read-only mount skips the re-exec: e.g.
//! `mount --bind /usr/local/bin/sangja /usr/local/bin/sangja && mount -o remount,bind,ro
//! /usr/local/bin/sangja`. Programs that embed the library and create containers should call
//! [`ensure_sealed`] first thing in `main` for the same reason.
use std::ffi::{CStr, CString, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::{self, Errno};

/// Why the runtime could not re-execute itself from a protected copy.
#[derive(Debug, thiserror::Error)]
pub enum ExeError {
    /// A syscall on the way failed (names the call and the path it acted on).
    #[error("protect runtime binary: {call} {}: {source}", path.display())]
    Sys {
        /// The syscall.
        call: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: Errno,
    },
    /// The re-executed program still found its executable writable (a kernel that reports neither
    /// the read-only mount nor the seals): refused rather than re-executing again.
    #[error("protect runtime binary: still writable after re-executing from a protected view")]
    StillWritable,
    /// An argument or environment string holds a NUL byte.
    #[error("protect runtime binary: argument or environment contains a NUL byte")]
    Nul,
}

const SELF_EXE: &CStr = c"/proc/self/exe";
const SELF_EXE_PATH: &str = "/proc/self/exe";
/// Set in the environment of the re-executed program: it must find itself protected, or fail
/// (never a second re-exec). Clients never see it: containers and hooks get their own environment.
const REEXEC_MARK: &str = "_SANGJA_SEALED_REEXEC";

/// How the running executable is protected from writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// `/proc/self/exe` is on a read-only mount (our overlay, or the binary's own read-only mount).
    ReadOnlyMount,
    /// `/proc/self/exe` is a memfd sealed against writes.
    SealedMemfd,
    /// Neither: a container could write the binary through `/proc/<pid>/exe`.
    Writable,
}

/// How `/proc/self/exe` is protected: one `statvfs` when it is on a read-only mount, else an open
/// and `F_GET_SEALS` (which only memfds answer).
pub fn sealed() -> Sealed {
    if sys::statvfs(SELF_EXE).is_ok_and(|st| st.f_flag & libc::ST_RDONLY != 0) {
        return Sealed::ReadOnlyMount;
    }
    let write_sealed = sys::open(SELF_EXE, libc::O_RDONLY, 0)
        .and_then(|fd| sys::get_seals(fd.as_fd()))
        .is_ok_and(|s| s & libc::F_SEAL_WRITE != 0);
    if write_sealed {
        Sealed::SealedMemfd
    } else {
        Sealed::Writable
    }
}

/// Make sure the running executable cannot be written by a container: return at once when it is
/// already protected ([`sealed`]), else re-execute this program, with the same arguments and
/// environment, from a read-only overlay view of the binary or a sealed memfd copy. Only returns
/// when it was protected already, or with the error that stopped the re-exec.
/// Nothing is written anywhere: a process killed during the re-exec leaves no trace.
/// Fds without `O_CLOEXEC` (stdio, `--preserve-fds`, `LISTEN_FDS`) are kept across the re-exec.
pub fn ensure_sealed() -> Result<(), ExeError> {
    ensure_sealed_as(std::env::var_os(REEXEC_MARK).is_some())
}

/// [`ensure_sealed`] for a program that was (`reexecuted`) or was not re-executed already.
fn ensure_sealed_as(reexecuted: bool) -> Result<(), ExeError> {
    if sealed() != Sealed::Writable {
        return Ok(());
    }
    if reexecuted {
        return Err(ExeError::StillWritable);
    }
    let argv = cstrings(std::env::args_os())?;
    let envp = cstrings(
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                kv
            })
            .chain(std::iter::once(OsString::from(format!("{REEXEC_MARK}=1")))),
    )?;
    if let Ok(view) = overlay_view().inspect_err(|e| {
        log::debug!("{e}; falling back to a sealed memfd copy");
    }) {
        // Only returns on failure (an LSM refusing to execute through the overlay, say).
        let e = reexec(view, &argv, &envp);
        log::debug!("{e}; falling back to a sealed memfd copy");
    }
    Err(reexec(memfd_copy()?, &argv, &envp))
}

fn cstrings(items: impl Iterator<Item = OsString>) -> Result<Vec<CString>, ExeError> {
    items
        .map(|s| CString::new(s.as_bytes()).map_err(|_| ExeError::Nul))
        .collect()
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn sys_err<'a>(call: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> ExeError + 'a {
    move |source| ExeError::Sys {
        call,
        path: path.to_path_buf(),
        source,
    }
}

/// An `O_PATH` fd of our binary seen through a new, detached, read-only overlayfs whose layers are
/// the binary's directory (on top) and a layer below that overlayfs needs when it has no upper
/// one: `/run` ([`BELOW`]) when only root can write it; else an empty, detached tmpfs reached as
/// `/proc/self/fd/N` (which older kernels, Debian 12's 6.1 among them, refuse with a line in the
/// kernel log: so it is not tried first). Neither is written, so a runtime killed at any point here leaves nothing behind.
/// The file opened through the view must be the one we run (same size, mode and modification
/// time): a name missing from the top layer would otherwise be looked up in the layer below.
fn overlay_view() -> Result<OwnedFd, ExeError> {
    let exe = std::fs::read_link(SELF_EXE_PATH)
        .map_err(|e| sys_err("readlink", Path::new(SELF_EXE_PATH))(io_errno(&e)))?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(sys_err("readlink", &exe)(Errno::EINVAL));
    };
    let name = CString::new(name.as_bytes()).map_err(|_| ExeError::Nul)?;
    let top = escape_layer(dir.as_os_str().as_bytes());
    let over_run = below_is_root_only()
        .then(|| overlay(dir, &top, BELOW.to_bytes()))
        .and_then(|r| {
            r.inspect_err(|e| log::debug!("{e}; trying a detached tmpfs"))
                .ok()
        });
    let mnt = match over_run {
        Some(mnt) => mnt,
        None => {
            let empty = detached_mount(c"tmpfs", Path::new("tmpfs"), &[])?;
            let below = format!("/proc/self/fd/{}", empty.as_raw_fd());
            overlay(dir, &top, below.as_bytes())?
        }
    };
    let view = sys::openat(mnt.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0)
        .map_err(sys_err("open through overlay", &exe))?;
    let ours = sys::stat(SELF_EXE).map_err(sys_err("stat", Path::new(SELF_EXE_PATH)))?;
    let seen = sys::fstat(view.as_fd()).map_err(sys_err("stat through overlay", &exe))?;
    let same = |a: &libc::stat, b: &libc::stat| {
        (a.st_size, a.st_mtime, a.st_mtime_nsec, a.st_mode)
            == (b.st_size, b.st_mtime, b.st_mtime_nsec, b.st_mode)
    };
    if !same(&ours, &seen) {
        return Err(sys_err("open through overlay", &exe)(Errno::ESTALE));
    }
    Ok(view)
}

/// The layer below the binary's directory in the overlay view, as runc uses its state directory.
const BELOW: &CStr = c"/run";

/// Whether [`BELOW`] is a directory owned by root that no one else can write, so nothing but root
/// can put a file under the binary's name there.
fn below_is_root_only() -> bool {
    sys::stat(BELOW).is_ok_and(|st| {
        st.st_mode & libc::S_IFMT == libc::S_IFDIR && st.st_uid == 0 && st.st_mode & 0o022 == 0
    })
}

/// A read-only overlay of `top` (escaped) over `below`.
fn overlay(dir: &Path, top: &str, below: &[u8]) -> Result<OwnedFd, ExeError> {
    let lower =
        CString::new(format!("{top}:{}", escape_layer(below))).map_err(|_| ExeError::Nul)?;
    detached_mount(c"overlay", dir, &[(c"lowerdir", &lower), (c"xino", c"off")])
}

/// A new read-only, nodev, nosuid mount of `fstype` with these string options, attached
/// nowhere. (`xino=off` is only there to spare the kernel log a notice when the layers are on
/// different filesystems; an option the kernel does not know is skipped.)
fn detached_mount(
    fstype: &CStr,
    what: &Path,
    options: &[(&CStr, &CStr)],
) -> Result<OwnedFd, ExeError> {
    let ctx = sys::fsopen(fstype).map_err(sys_err("fsopen", what))?;
    for (i, (key, value)) in options.iter().enumerate() {
        let set = sys::fsconfig_string(ctx.as_fd(), key, value);
        if i == 0 {
            set.map_err(sys_err("fsconfig", what))?;
        }
    }
    sys::fsconfig_create(ctx.as_fd()).map_err(sys_err("fsconfig create", what))?;
    sys::fsmount(
        ctx.as_fd(),
        sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOSUID,
    )
    .map_err(sys_err("fsmount", what))
}

/// A sealed memfd holding a copy of our binary.
fn memfd_copy() -> Result<OwnedFd, ExeError> {
    let path = Path::new(SELF_EXE_PATH);
    let src = sys::open(SELF_EXE, libc::O_RDONLY, 0).map_err(sys_err("open", path))?;
    // MFD_EXEC: with vm.memfd_noexec = 1 (Linux 6.3+) a memfd is otherwise created noexec;
    // kernels before 6.3 do not know the flag (EINVAL) and make every memfd executable.
    const MFD_EXEC: libc::c_uint = 0x10;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let memfd = match sys::memfd_create(c"sangja", flags | MFD_EXEC) {
        Err(Errno::EINVAL) => sys::memfd_create(c"sangja", flags),
        r => r,
    }
    .map_err(sys_err("memfd_create", path))?;
    loop {
        match sys::sendfile(memfd.as_fd(), src.as_fd(), 1 << 30) {
            Ok(0) => break,
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(e) => return Err(sys_err("sendfile", path)(e)),
        }
    }
    sys::add_seals(
        memfd.as_fd(),
        libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE,
    )
    .map_err(sys_err("seal memfd", path))?;
    Ok(memfd)
}

/// Execute `exe` with `argv` and `envp`; returns only on failure.
fn reexec(exe: OwnedFd, argv: &[CString], envp: &[CString]) -> ExeError {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let err = sys::execveat_fd(exe.as_fd(), &argv_ptrs, &envp_ptrs);
    sys_err("execveat", Path::new(SELF_EXE_PATH))(err)
}

/// A layer path for overlayfs's `lowerdir=`: `\` and `:` escaped.
fn escape_layer(path: &[u8]) -> String {
    let s = String::from_utf8_lossy(path);
    s.replace('\\', "\\\\").replace(':', "\\:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_paths_are_escaped() {
        assert_eq!(escape_layer(b"/usr/bin"), "/usr/bin");
        assert_eq!(escape_layer(b"/a:b\\c"), "/a\\:b\\\\c");
    }

    #[test]
    fn a_test_binary_in_target_is_writable() {
        // cargo's target directory is an ordinary writable directory.
        assert_eq!(sealed(), Sealed::Writable);
    }

    #[test]
    fn a_re_executed_program_never_re_executes_again() {
        // What the re-executed program would do if the kernel reported its view as writable.
        let r = ensure_sealed_as(true);
        assert!(matches!(r, Err(ExeError::StillWritable)), "{r:?}");
    }

    #[test]
    fn memfd_copy_is_sealed_against_writes() {
        let fd = memfd_copy().unwrap();
        let seals = sys::get_seals(fd.as_fd()).unwrap();
        assert_ne!(seals & libc::F_SEAL_WRITE, 0);
        let mut buf = [0u8; 32];
        let p = sys::proc_fd_path(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut buf);
        // Opening for writing works on a memfd; writing and truncating do not.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(p.to_str().unwrap())
            .unwrap();
        let err = std::io::Write::write(&mut f, b"PWNED");
        assert_eq!(err.err().and_then(|e| e.raw_os_error()), Some(libc::EPERM));
        let err = f.set_len(0);
        assert_eq!(err.err().and_then(|e| e.raw_os_error()), Some(libc::EPERM));
        let len = std::fs::metadata(p.to_str().unwrap()).unwrap().len();
        assert_eq!(len, std::fs::metadata("/proc/self/exe").unwrap().len());
    }

    #[test]
    fn the_view_over_run_shows_our_binary_on_top() {
        // The binary's directory over /run: what the view is on every kernel with a root-only /run.
        assert!(below_is_root_only(), "/run on this host");
        let exe = std::fs::read_link(SELF_EXE_PATH).unwrap();
        let dir = exe.parent().unwrap();
        let top = escape_layer(dir.as_os_str().as_bytes());
        let mnt = overlay(dir, &top, BELOW.to_bytes()).unwrap();
        let name = CString::new(exe.file_name().unwrap().as_bytes()).unwrap();
        let fd = sys::openat(mnt.as_fd(), &name, libc::O_RDONLY, 0).unwrap();
        let mut buf = [0u8; 32];
        let p = sys::proc_fd_path(fd.as_raw_fd(), &mut buf)
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(SELF_EXE_PATH).unwrap()
        );
        // Read-only: nothing can be made in it.
        let err = sys::openat(
            mnt.as_fd(),
            c"sangja-test-new",
            libc::O_CREAT | libc::O_WRONLY,
            0o600,
        );
        assert_eq!(err.err(), Some(Errno::EROFS));
    }

    #[test]
    fn a_detached_layer_below_works_on_newer_kernels() {
        // The view where /run is not root's alone. Detached layers came with Linux 6.15; 6.1 says
        // "failed to clone lowerpath".
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut v = release
            .split(['.', '-'])
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let newer = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 15);
        let exe = std::fs::read_link(SELF_EXE_PATH).unwrap();
        let dir = exe.parent().unwrap();
        let empty = detached_mount(c"tmpfs", Path::new("tmpfs"), &[]).unwrap();
        let below = format!("/proc/self/fd/{}", empty.as_raw_fd());
        let top = escape_layer(dir.as_os_str().as_bytes());
        let mnt = overlay(dir, &top, below.as_bytes());
        assert_eq!(mnt.is_ok(), newer, "kernel {release}");
        if let Ok(mnt) = mnt {
            let name = CString::new(exe.file_name().unwrap().as_bytes()).unwrap();
            assert!(sys::openat(mnt.as_fd(), &name, libc::O_PATH, 0).is_ok());
        }
    }

    #[test]
    fn overlay_view_is_read_only_and_is_our_binary() {
        let fd = overlay_view().unwrap();
        let mut buf = [0u8; 32];
        let p = sys::proc_fd_path(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut buf)
            .to_str()
            .unwrap()
            .to_string();
        let err = std::fs::OpenOptions::new().write(true).open(&p);
        assert_eq!(
            err.err().and_then(|e| e.raw_os_error()),
            Some(libc::EROFS),
            "the overlay view refuses writable opens"
        );
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read("/proc/self/exe").unwrap()
        );
    }
}
