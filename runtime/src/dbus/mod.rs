//! A small synchronous D-Bus client, for the systemd cgroup driver: connect and authenticate
//! (`EXTERNAL`, by our uid), send method calls (several at once, each answered by serial), and
//! wait for a signal. No threads, no async runtime, no allocation beyond the message buffers;
//! chosen over zbus by measurement (see the systemd driver).
//!
//! It uses the system bus (`$DBUS_SYSTEM_BUS_ADDRESS`, else `/run/dbus/system_bus_socket`), where
//! it says `Hello` first (without waiting for the answer: the daemon handles a connection's
//! messages in order) and asks for the signals it waits for with `AddMatch`. Without a system bus,
//! root talks to systemd directly on its private socket (`/run/systemd/private`): no daemon in
//! between, no `Hello`, no match rules. That is the order runc's go-systemd takes, and the faster
//! one: systemd 252 takes about 2 ms to accept a private connection (AUTH to OK), the bus daemon
//! 0.2 ms, so connect, authenticate, `Hello`, `AddMatch` and one call cost 0.9 ms through the daemon
//! against 2.3 ms direct (measured in `benches/systemd-box.sh`'s container).
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod wire;

pub use wire::{Call, Dec, Enc, Message, Value};

/// systemd's own socket for direct (bus-less) connections, root only.
const SYSTEMD_PRIVATE: &str = "/run/systemd/private";
/// The system bus, when `DBUS_SYSTEM_BUS_ADDRESS` does not say otherwise.
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// What went wrong talking to the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Connecting, reading or writing failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The socket.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The peer refused the call.
    #[error("{name}: {message}")]
    Remote {
        /// The D-Bus error name (`org.freedesktop.systemd1.NoSuchUnit`).
        name: String,
        /// Its message.
        message: String,
    },
    /// The peer broke the protocol (or authentication).
    #[error("{0}")]
    Protocol(String),
    /// No answer in time.
    #[error("no answer from {} within {waited:?}", path.display())]
    Timeout {
        /// The socket.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
}

/// One connection.
#[derive(Debug)]
pub struct Bus {
    sock: UnixStream,
    path: PathBuf,
    serial: u32,
    /// Bytes read and not yet decoded.
    input: Vec<u8>,
    /// Messages read while waiting for something else (signals, other replies).
    queued: Vec<Message>,
    /// Through a bus daemon (signals need a match rule there).
    via_daemon: bool,
}

/// Where the system bus is (`unix:path=…` of `DBUS_SYSTEM_BUS_ADDRESS`, else the default).
fn system_bus_path() -> PathBuf {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .and_then(|a| {
            a.split(';')
                .find_map(|one| one.strip_prefix("unix:path=").map(|p| p.to_string()))
        })
        .map(|p| PathBuf::from(p.split(',').next().unwrap_or_default()))
        .unwrap_or_else(|| PathBuf::from(SYSTEM_BUS))
}

impl Bus {
    /// Connect to systemd (PID 1): through the system bus, else (root, no bus daemon) directly.
    pub fn systemd(timeout: Duration) -> Result<Bus, BusError> {
        let euid = nix::unistd::geteuid().as_raw();
        let private = Path::new(SYSTEMD_PRIVATE);
        match Bus::connect(&system_bus_path(), true, euid, timeout) {
            Err(e) if euid == 0 && private.exists() => {
                log::debug!("dbus: {e}; talking to systemd on {SYSTEMD_PRIVATE}");
                Bus::connect(private, false, euid, timeout)
            }
            r => r,
        }
    }

    /// Connect to `path` and authenticate as `uid`; `via_daemon`: a bus daemon is in between.
    pub fn connect(
        path: &Path,
        via_daemon: bool,
        uid: u32,
        timeout: Duration,
    ) -> Result<Bus, BusError> {
        let io = |op| {
            move |source| BusError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        };
        let mut sock = UnixStream::connect(path).map_err(io("connect"))?;
        sock.set_read_timeout(Some(timeout))
            .map_err(io("set timeout on"))?;
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        // BEGIN right behind AUTH, as sd-bus clients send it: the peer has read both when it says
        // OK, so our first message never arrives in the same read as BEGIN (systemd 252 leaves a
        // message that came with BEGIN unread until more data arrives).
        sock.write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes())
            .map_err(io("write"))?;
        let mut line = [0u8; 256];
        let mut n = 0;
        while !line[..n].ends_with(b"\r\n") {
            let got = sock.read(&mut line[n..]).map_err(io("read"))?;
            if got == 0 || n + got == line.len() {
                return Err(BusError::Protocol("authentication: no answer".into()));
            }
            n += got;
        }
        if !line.starts_with(b"OK ") {
            let said = String::from_utf8_lossy(&line[..n]).trim().to_string();
            return Err(BusError::Protocol(format!(
                "authentication refused: {said}"
            )));
        }
        let mut bus = Bus {
            sock,
            path: path.to_path_buf(),
            serial: 0,
            input: Vec::new(),
            queued: Vec::new(),
            via_daemon,
        };
        if via_daemon {
            let hello = Call {
                destination: "org.freedesktop.DBus",
                path: "/org/freedesktop/DBus",
                interface: "org.freedesktop.DBus",
                member: "Hello",
            };
            // Its answer (our unique name) is read, and dropped, with the next call's.
            bus.send(hello, "", |_| {})?;
        }
        Ok(bus)
    }

    /// Send a method call without waiting; returns its serial, for [`Bus::reply`].
    pub fn send(
        &mut self,
        call: Call<'_>,
        signature: &str,
        body: impl FnOnce(&mut Enc),
    ) -> Result<u32, BusError> {
        self.serial += 1;
        log::debug!(
            "dbus: call {}.{} serial {} on {}",
            call.interface,
            call.member,
            self.serial,
            self.path.display()
        );
        let msg = wire::method_call(call, self.serial, signature, body);
        self.sock.write_all(&msg).map_err(|source| BusError::Io {
            op: "write",
            path: self.path.clone(),
            source,
        })?;
        Ok(self.serial)
    }

    /// Ask the bus daemon for signals matching `rule` (no-op on a direct connection, where the
    /// peer sends its signals to us anyway); returns the call's serial, if one was sent.
    pub fn add_match(&mut self, rule: &str) -> Result<Option<u32>, BusError> {
        if !self.via_daemon {
            return Ok(None);
        }
        let call = Call {
            destination: "org.freedesktop.DBus",
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "AddMatch",
        };
        self.send(call, "s", |e| e.str(rule)).map(Some)
    }

    /// The answer to call `serial`: its return message, or its error as [`BusError::Remote`].
    pub fn reply(&mut self, serial: u32, timeout: Duration) -> Result<Message, BusError> {
        let m = self.next(timeout, |m| {
            m.reply_serial == Some(serial) && matches!(m.kind, wire::METHOD_RETURN | wire::ERROR)
        })?;
        if m.kind == wire::ERROR {
            let message = Dec::new(&m.body).str().unwrap_or_default();
            return Err(BusError::Remote {
                name: m.error_name,
                message,
            });
        }
        Ok(m)
    }

    /// The next signal that `wanted` accepts (signals read earlier included).
    pub fn signal(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Message) -> bool,
    ) -> Result<Message, BusError> {
        self.next(timeout, |m| m.kind == wire::SIGNAL && wanted(m))
    }

    /// The first message, queued or read now, that `pick` accepts; the others stay queued.
    fn next(
        &mut self,
        timeout: Duration,
        pick: impl Fn(&Message) -> bool,
    ) -> Result<Message, BusError> {
        if let Some(i) = self.queued.iter().position(&pick) {
            return Ok(self.queued.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(len) = wire::message_len(&self.input).filter(|n| *n <= self.input.len())
            {
                let m = wire::decode(&self.input[..len])
                    .ok_or_else(|| BusError::Protocol("malformed message".into()))?;
                self.input.drain(..len);
                log::debug!(
                    "dbus: got type {} reply to {:?} {}{} {}",
                    m.kind,
                    m.reply_serial,
                    m.interface,
                    m.member,
                    m.error_name
                );
                if pick(&m) {
                    return Ok(m);
                }
                self.queued.push(m);
            }
            if self.input.len() >= 16 && wire::message_len(&self.input).is_none() {
                return Err(BusError::Protocol("malformed message header".into()));
            }
            self.fill(deadline, timeout)?;
        }
    }

    /// Read more bytes, before `deadline`.
    fn fill(&mut self, deadline: Instant, timeout: Duration) -> Result<(), BusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BusError::Timeout {
                path: self.path.clone(),
                waited: timeout,
            });
        }
        let io = |source| BusError::Io {
            op: "read",
            path: self.path.clone(),
            source,
        };
        self.sock.set_read_timeout(Some(left)).map_err(io)?;
        let mut chunk = [0u8; 4096];
        match self.sock.read(&mut chunk) {
            Ok(0) => Err(BusError::Protocol("connection closed".into())),
            Ok(n) => {
                self.input.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(BusError::Timeout {
                    path: self.path.clone(),
                    waited: timeout,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests;
