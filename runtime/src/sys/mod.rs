//! Thin typed wrappers over the system calls the runtime makes. This folder is the only place in
//! the library with `unsafe`: every other module calls the safe functions re-exported here, and
//! each `unsafe` block says, in its `// SAFETY:` comment, which invariants make it sound (valid
//! pointers and lengths, fd ownership, async-signal-safety).
//!
//! Most wrappers are also what a child runs between `clone` and `execve`: the init (`init/`),
//! the exec child (`exec.rs`) and a hook child (`hooks.rs`). Such a child is a copy of a process
//! that may have other threads (an embedder's), and one of them may have held the allocator's, a
//! logger's or any other lock at the instant of the clone, with the memory behind it half
//! updated; in the copy that thread does not exist, so the lock is never released. The child
//! therefore allocates nothing, takes no lock and logs nothing until `execve` or `_exit`: it only
//! makes system calls on data prepared before the clone. That is what keeps the library sound,
//! and free of deadlocks, inside a multi-threaded embedder (`runtime/tests/threads.rs` creates
//! containers from several threads beside busy allocators), and it is why the wrappers take
//! already-prepared C strings (built in the plan, before the clone), write into the caller's
//! buffers and return `Result<_, Errno>`, and why some use the raw syscall rather than glibc's
//! wrapper (which may broadcast to threads that are not there, see [`setgroups`]). Files whose
//! wrappers only ever run in the parent (the BPF loader, the terminal proxy of a foreground `run`)
//! or in tests (libseccomp) say so in their header.
//!
//! By concern:
//! - `process`: clone, execve, exit, wait, the dumpable flag, limits;
//! - `signal`: dispositions, masks, signalfd, sending signals;
//! - `mount`: mounts, the new mount API, `pivot_root`, `chroot`, the cwd;
//! - `fd`: closing fds before `execve`, the cwd check, `openat2`, `fstat`, detached mounts by fd;
//! - `fs`: opening and making files, their metadata, memfds and seals;
//! - `io`: read, write, poll, pipes, `dup2`, eventfd;
//! - `socket`: the parent↔init channel and fd passing;
//! - `pty`: ptys, controlling terminals, window sizes, raw mode;
//! - `ns`: namespaces, host and domain names, the loopback interface;
//! - `identity`: ids, groups, capabilities, the session keyring;
//! - `seccomp`, `bpf`: loading seccomp filters and cgroup device programs;
//! - `clock`, `fmt`: the monotonic clock and numbers as text, both without allocating;
//! - `libseccomp` (tests only): libseccomp through `dlopen`, for the seccomp compiler's
//!   differential test.
pub use nix::errno::Errno;

mod bpf;
mod clock;
mod fd;
mod fmt;
mod fs;
mod identity;
mod io;
#[cfg(all(test, not(target_arch = "aarch64")))]
pub(crate) mod libseccomp;
mod mount;
mod ns;
mod process;
mod pty;
mod seccomp;
mod signal;
mod socket;

pub use bpf::*;
pub use clock::*;
pub use fd::*;
pub use fmt::format_pid;
pub use fs::*;
pub use identity::*;
pub use io::*;
pub use mount::*;
pub use ns::*;
pub use process::*;
pub use pty::*;
pub use seccomp::*;
pub use signal::*;
pub use socket::*;

/// Result of a raw syscall wrapper.
pub type SysResult<T> = Result<T, Errno>;

/// A libc call's `int` result: negative is the error in `errno`.
fn check(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// A raw `syscall(2)`'s `long` result: negative is the error in `errno`.
fn check_long(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// A `ssize_t` byte count: negative is the error in `errno`.
fn check_size(ret: libc::ssize_t) -> SysResult<usize> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret as usize)
    }
}
