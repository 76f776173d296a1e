//! Terminals as a client sees them: a `--console-socket` receiver (what containerd's shim and conmon do:
//! listen on a unix socket, accept one connection, receive the pty master in one `SCM_RIGHTS` message),
//! reading a pty until its other side closes, and a pty of the test's own to act as an interactive
//! terminal.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many fds one receive has room for: more than the one expected, so extra fds are seen (and
/// counted) rather than silently truncated.
const MAX_FDS: usize = 8;

/// A listening console socket (`--console-socket PATH`). The socket file is removed on drop.
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

/// What one connection to the console socket delivered.
#[derive(Debug)]
pub struct Received {
    /// The first fd received: the pty master.
    pub master: File,
    /// How many fds the message carried in all (runc sends exactly one).
    pub fds: usize,
    /// The message payload (runc sends the master's name, `/dev/ptmx`).
    pub name: String,
    /// Whether the control data was truncated (`MSG_CTRUNC`): more fds than [`MAX_FDS`].
    pub truncated: bool,
    /// The accepted connection, to check that the runtime closes it.
    pub conn: UnixStream,
}

impl ConsoleSocket {
    /// Listens on a unix socket at `path` (which must not exist).
    pub fn bind(path: &Path) -> Self {
        let listener =
            UnixListener::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        Self {
            path: path.to_path_buf(),
            listener,
        }
    }

    /// The socket path as a `&str` (for command lines).
    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("UTF-8 socket path")
    }

    /// Accepts one connection and receives one message with its fds; panics after `timeout`.
    pub fn receive(&self, timeout: Duration) -> Received {
        let deadline = Instant::now() + timeout;
        let conn = loop {
            match self.listener.accept() {
                Ok((conn, _)) => break conn,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        wait_readable(self.listener.as_raw_fd(), deadline),
                        "nothing connected to the console socket {} within {timeout:?}",
                        self.path.display()
                    );
                }
                Err(e) => panic!("accept on {}: {e}", self.path.display()),
            }
        };
        conn.set_nonblocking(false).expect("blocking connection");
        assert!(
            wait_readable(conn.as_raw_fd(), deadline),
            "the runtime connected to {} but sent nothing within {timeout:?}",
            self.path.display()
        );
        let (name, mut fds, truncated) = recv_fds(conn.as_raw_fd())
            .unwrap_or_else(|e| panic!("recvmsg on {}: {e}", self.path.display()));
        assert!(
            !fds.is_empty(),
            "the console socket message carried no fd (payload {name:?})"
        );
        let count = fds.len();
        let master = File::from(fds.swap_remove(0));
        Received {
            master,
            fds: count,
            name,
            truncated,
            conn,
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Received {
    /// Whether the runtime closed its end of the connection (a read returns EOF) within `timeout`,
    /// having sent nothing more.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        if !wait_readable(self.conn.as_raw_fd(), Instant::now() + timeout) {
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(self.conn.read(&mut buf), Ok(0))
    }
}

/// Polls `fd` for input (or hang-up) until `deadline`.
fn wait_readable(fd: RawFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd for the duration of the call; nfds is 1.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            return true;
        }
        if n == 0 || Instant::now() >= deadline {
            return false;
        }
        let e = io::Error::last_os_error();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted, "poll: {e}");
    }
}

/// One `recvmsg` on a stream socket: the payload as text, the fds received, and whether the control data
/// was truncated.
fn recv_fds(sock: RawFd) -> io::Result<(String, Vec<OwnedFd>, bool)> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for MAX_FDS fds, 8-byte aligned as cmsghdr requires.
    let fd_bytes = u32::try_from(MAX_FDS * std::mem::size_of::<RawFd>()).expect("small");
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is a valid value; the pointers set below outlive the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    let n = loop {
        // SAFETY: msg points to a valid iovec and control buffer of the sizes it states.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break usize::try_from(n).expect("non-negative");
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR walk within msg_controllen, and each
    // SCM_RIGHTS payload holds (cmsg_len - CMSG_LEN(0)) / sizeof(int) fds that are now ours to own.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let first = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(first.add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let truncated = msg.msg_flags & libc::MSG_CTRUNC != 0;
    Ok((
        String::from_utf8_lossy(&data[..n]).into_owned(),
        fds,
        truncated,
    ))
}

/// `(major, minor)` of the character device a file is, if it is one.
pub fn char_device(f: &File) -> Option<(u32, u32)> {
    let m = f.metadata().ok()?;
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_char_device().then(|| {
        let rdev = m.rdev();
        (libc::major(rdev), libc::minor(rdev))
    })
}

/// The pts number of a pty master (`TIOCGPTN`).
pub fn pts_number(master: &File) -> io::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n)
    }
}

/// The window size of a terminal as (rows, columns).
pub fn window_size(tty: &File) -> io::Result<(u16, u16)> {
    // SAFETY: an all-zero winsize is valid.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer.
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((ws.ws_row, ws.ws_col))
    }
}

/// Sets the window size of a terminal.
pub fn set_window_size(tty: &File, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer.
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes `input` to a pty master, then reads everything until the slave side is closed by every process
/// (read gives EIO or EOF). Panics after `timeout`, showing what was read so far.
pub fn converse(master: &mut File, input: &str, timeout: Duration) -> String {
    master
        .write_all(input.as_bytes())
        .expect("write to the pty master");
    read_until_closed(master, timeout)
}

/// Reads a pty master until every holder of the slave has closed it; panics after `timeout`.
pub fn read_until_closed(master: &mut File, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            wait_readable(master.as_raw_fd(), deadline),
            "the pty's slave side was still open after {timeout:?}; read so far: {:?}",
            String::from_utf8_lossy(&out)
        );
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read from the pty master: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lines of terminal output, without `\r` and surrounding blanks.
pub fn tty_lines(text: &str) -> Vec<String> {
    text.split('\n')
        .map(|l| l.trim_matches(|c: char| c == '\r' || c.is_whitespace()))
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// A pty pair of the test's own (from the host's `/dev/ptmx`): the test plays the user at the master.
#[derive(Debug)]
pub struct Pty {
    /// The master side.
    pub master: File,
    /// The slave's path, e.g. `/dev/pts/3`.
    pub slave_path: PathBuf,
}

impl Pty {
    /// Opens a new pty pair with the given window size.
    pub fn open(rows: u16, cols: u16) -> Self {
        // SAFETY: posix_openpt has no memory-safety preconditions; it returns a new fd or -1.
        let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "posix_openpt: {}", io::Error::last_os_error());
        // SAFETY: fd is a fresh fd that nothing else owns.
        let master = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // SAFETY: grantpt/unlockpt take an fd we own.
        let ok = unsafe { libc::grantpt(fd) == 0 && libc::unlockpt(fd) == 0 };
        assert!(ok, "grantpt/unlockpt: {}", io::Error::last_os_error());
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: ptsname_r writes a NUL-terminated name of at most name.len() bytes into name.
        let rc = unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) };
        assert_eq!(rc, 0, "ptsname_r: {}", io::Error::from_raw_os_error(rc));
        // SAFETY: ptsname_r succeeded, so name holds a NUL-terminated string.
        let slave_path = PathBuf::from(
            unsafe { CStr::from_ptr(name.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        );
        set_window_size(&master, rows, cols).expect("set the pty's window size");
        Self { master, slave_path }
    }

    /// Opens the slave side (without making it anyone's controlling terminal).
    pub fn open_slave(&self) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&self.slave_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.slave_path.display()))
    }
}

/// Makes `command` run in a new session with `fd 0` (which must be a terminal) as its controlling
/// terminal, as a login shell on that terminal would.
pub fn with_controlling_tty(command: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes two async-signal-safe
    // syscalls (setsid, ioctl) on plain integers.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
