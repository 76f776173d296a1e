//! Unix sockets: the parent↔init channel (a seqpacket pair), `send` without SIGPIPE, and passing
//! fds with `SCM_RIGHTS` (the pty master to a console socket, a seccomp listener to its agent).
//! Control messages are built in stack buffers: no allocation.
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, check_size, Errno, SysResult};

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: the parent↔init channel.
pub fn seqpacket_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: the kernel returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `send(2)` with `MSG_NOSIGNAL`: a peer that is gone is `EPIPE`, never a SIGPIPE that would kill
/// an embedder that does not ignore it.
pub fn send(sock: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    check_size(unsafe {
        libc::send(
            sock.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    })
}

/// Send `fd` over the unix socket `sock` in one `SCM_RIGHTS` message whose payload is `name`
/// (runc sends the pty master this way, named `/dev/ptmx`).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &[u8]) -> SysResult<()> {
    // Control buffer for one fd, 8-byte aligned as cmsghdr requires.
    #[repr(C, align(8))]
    struct Cmsg([u8; 64]);
    let mut cbuf = Cmsg([0; 64]);
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msg_control points to a buffer large enough for one cmsg carrying one fd; the
    // CMSG_* macros stay within it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }
    // SAFETY: msg is fully initialised above; its iov and control buffer outlive the call.
    check_size(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) }).map(drop)
}

/// `recvmsg(2)` of one message into `buf`, taking the file descriptor passed with it, if any
/// (`SCM_RIGHTS`, received close-on-exec). No allocation.
pub fn recv_with_fd(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    #[repr(C, align(8))]
    struct Cmsg([u8; 64]);
    let mut cbuf = Cmsg([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len();
    // SAFETY: msg describes valid buffers (`buf`, `cbuf`) for the duration of the call.
    let n =
        check_size(unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    let mut fd = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // msg_controllen; an SCM_RIGHTS payload holds ints, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw: RawFd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                // The kernel installed this fd for us: we own it.
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, fd))
}

/// Receive one fd sent with [`send_fd`] (the message payload is discarded).
pub fn recv_fd(sock: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let mut data = [0u8; 256];
    match recv_with_fd(sock, &mut data)? {
        (_, Some(fd)) => Ok(fd),
        (_, None) => Err(Errno::EPROTO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn an_fd_sent_is_received_with_its_payload() {
        let (a, b) = seqpacket_pair().expect("socketpair");
        let (r, w) = super::super::pipe().expect("pipe");
        send_fd(a.as_fd(), w.as_fd(), b"/dev/ptmx").expect("send");
        let mut buf = [0u8; 16];
        let (n, fd) = recv_with_fd(b.as_fd(), &mut buf).expect("recv");
        assert_eq!(&buf[..n], b"/dev/ptmx");
        let fd = fd.expect("an fd");
        assert_eq!(super::super::write(fd.as_fd(), b"y"), Ok(1));
        assert_eq!(super::super::read(r.as_fd(), &mut buf), Ok(1));
        assert_eq!(send(a.as_fd(), b"no fd"), Ok(5));
        assert_eq!(recv_fd(b.as_fd()).err(), Some(Errno::EPROTO));
    }
}
