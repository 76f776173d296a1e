//! Plain I/O on fds: `read`, `write`, `poll`, pipes, `dup2` and the eventfd of cgroup v1 OOM
//! notification. Into and out of the caller's buffers: usable between clone and execve.
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, check_size, Errno, SysResult};

/// `read(2)`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: buf is valid and writable for buf.len() bytes.
    check_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` of the whole buffer (one call; short writes are errors here).
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    check_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// `poll(2)` on `fds` (a negative `fd` is skipped, as the kernel does); the number of entries
/// with events. Not retried: `EINTR` is the caller's, which may have a deadline to recompute.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> SysResult<usize> {
    // SAFETY: fds is a valid, writable array of fds.len() pollfd; poll only reads fd numbers
    // (closing or using none) and writes revents.
    let r = check(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(r as usize)
}

/// `poll(2)` on one fd for `events`; returns true when ready before `timeout_ms`.
pub fn poll_one(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout_ms: libc::c_int,
) -> SysResult<bool> {
    let mut p = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    loop {
        match poll(&mut p, timeout_ms) {
            Err(Errno::EINTR) => continue,
            r => return r.map(|n| n > 0),
        }
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: the kernel returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `dup2(2)` (the new fd is not close-on-exec).
pub fn dup2(fd: BorrowedFd<'_>, target: RawFd) -> SysResult<()> {
    // SAFETY: plain syscall on a live fd. What was at `target` is replaced: the callers dup2
    // onto 0–2 only, numbers no `OwnedFd` of theirs holds.
    check(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
}

/// `eventfd(2)` (close-on-exec): cgroup v1 OOM notification.
pub fn eventfd() -> SysResult<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn poll_sees_the_readable_end_and_skips_negative_fds() {
        let (r, w) = pipe().expect("pipe");
        assert_eq!(write(w.as_fd(), b"x"), Ok(1));
        let mut fds = [
            libc::pollfd {
                fd: -1,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        assert_eq!(poll(&mut fds, 0), Ok(1));
        assert_eq!(fds[0].revents, 0);
        assert_ne!(fds[1].revents & libc::POLLIN, 0);
        assert_eq!(poll_one(r.as_fd(), libc::POLLIN, 0), Ok(true));
    }
}
