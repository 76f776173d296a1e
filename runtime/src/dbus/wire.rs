//! The D-Bus wire format, as much of it as the systemd driver speaks: little-endian messages
//! (method calls out; replies, errors and signals in), the basic types, arrays, structs and
//! variants. Alignment is counted from the start of the message, so a body is encoded in the
//! same buffer right after its 8-aligned header.
//!
//! Encoding cannot fail; decoding checks every length and offset against the buffer and
//! returns `None` on a malformed message rather than panicking.

/// Message types.
pub(crate) const METHOD_CALL: u8 = 1;
pub(crate) const METHOD_RETURN: u8 = 2;
pub(crate) const ERROR: u8 = 3;
pub(crate) const SIGNAL: u8 = 4;

/// Header field codes.
const PATH: u8 = 1;
const INTERFACE: u8 = 2;
const MEMBER: u8 = 3;
const ERROR_NAME: u8 = 4;
const REPLY_SERIAL: u8 = 5;
const DESTINATION: u8 = 6;
const SIGNATURE: u8 = 8;

/// A value of a unit property (or a method argument): the types systemd's properties need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `s`
    Str(String),
    /// `b`
    Bool(bool),
    /// `u`
    U32(u32),
    /// `i`
    I32(i32),
    /// `t`
    U64(u64),
    /// `x`
    I64(i64),
    /// `ay`
    Bytes(Vec<u8>),
    /// `au`
    U32s(Vec<u32>),
    /// `as`
    Strs(Vec<String>),
    /// `a(ss)`: e.g. `DeviceAllow`.
    StrPairs(Vec<(String, String)>),
}

impl Value {
    /// The value's signature.
    pub fn signature(&self) -> &'static str {
        match self {
            Value::Str(_) => "s",
            Value::Bool(_) => "b",
            Value::U32(_) => "u",
            Value::I32(_) => "i",
            Value::U64(_) => "t",
            Value::I64(_) => "x",
            Value::Bytes(_) => "ay",
            Value::U32s(_) => "au",
            Value::Strs(_) => "as",
            Value::StrPairs(_) => "a(ss)",
        }
    }
}

/// A message being encoded.
#[derive(Debug, Default)]
pub struct Enc {
    /// The bytes so far.
    pub buf: Vec<u8>,
}

impl Enc {
    fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `s` or `o`.
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// `g`.
    pub(crate) fn sig(&mut self, s: &str) {
        self.u8(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// An array whose elements align to `elem_align`, filled by `f`.
    pub(crate) fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Enc)) {
        self.u32(0);
        let len_at = self.buf.len() - 4;
        self.align(elem_align);
        let start = self.buf.len();
        f(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// The start of a struct (or dict entry).
    pub(crate) fn strukt(&mut self) {
        self.align(8);
    }

    /// A variant holding `v`.
    pub(crate) fn variant(&mut self, v: &Value) {
        self.sig(v.signature());
        self.value(v);
    }

    /// `v` itself.
    pub(crate) fn value(&mut self, v: &Value) {
        match v {
            Value::Str(s) => self.str(s),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::U32(n) => self.u32(*n),
            Value::I32(n) => self.u32(*n as u32),
            Value::U64(n) => self.u64(*n),
            Value::I64(n) => self.u64(*n as u64),
            Value::Bytes(b) => self.array(1, |e| e.buf.extend_from_slice(b)),
            Value::U32s(ns) => self.array(4, |e| ns.iter().for_each(|n| e.u32(*n))),
            Value::Strs(ss) => self.array(4, |e| ss.iter().for_each(|s| e.str(s))),
            Value::StrPairs(ps) => self.array(8, |e| {
                for (a, b) in ps {
                    e.strukt();
                    e.str(a);
                    e.str(b);
                }
            }),
        }
    }

    /// Properties as `a(sv)`.
    pub(crate) fn properties(&mut self, props: &[(String, Value)]) {
        self.array(8, |e| {
            for (name, v) in props {
                e.strukt();
                e.str(name);
                e.variant(v);
            }
        });
    }
}

/// Where a method call goes.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Bus name of the peer (`org.freedesktop.systemd1`).
    pub destination: &'a str,
    /// Object path.
    pub path: &'a str,
    /// Interface.
    pub interface: &'a str,
    /// Method.
    pub member: &'a str,
}

/// A method call with `serial`, its body (of `signature`) written by `body`.
pub fn method_call(
    call: Call<'_>,
    serial: u32,
    signature: &str,
    body: impl FnOnce(&mut Enc),
) -> Vec<u8> {
    // The body first, on its own (bodies start 8-aligned, so its alignment is the same).
    let mut b = Enc::default();
    body(&mut b);
    let mut e = Enc::default();
    e.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
    e.u32(b.buf.len() as u32);
    e.u32(serial);
    e.array(8, |e| {
        let field = |e: &mut Enc, code: u8, sig: &str, s: &str| {
            e.strukt();
            e.u8(code);
            e.sig(sig);
            if sig == "g" {
                e.sig(s)
            } else {
                e.str(s)
            }
        };
        field(e, PATH, "o", call.path);
        field(e, INTERFACE, "s", call.interface);
        field(e, MEMBER, "s", call.member);
        field(e, DESTINATION, "s", call.destination);
        if !signature.is_empty() {
            field(e, SIGNATURE, "g", signature);
        }
    });
    e.align(8);
    e.buf.extend_from_slice(&b.buf);
    e.buf
}

/// A received message: its type, the header fields the driver reads, and its body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Message {
    /// [`METHOD_RETURN`], [`ERROR`], [`SIGNAL`], …
    pub kind: u8,
    /// The serial of the call this answers (replies and errors).
    pub reply_serial: Option<u32>,
    /// `INTERFACE` (signals).
    pub interface: String,
    /// `MEMBER` (signals).
    pub member: String,
    /// `ERROR_NAME` (errors).
    pub error_name: String,
    /// `SIGNATURE` of the body.
    pub signature: String,
    /// The body, aligned as if it started at offset 0.
    pub body: Vec<u8>,
}

/// The length of the whole message at the start of `buf`, once its fixed header is there.
pub fn message_len(buf: &[u8]) -> Option<usize> {
    let fixed = buf.get(..16)?;
    if fixed[0] != b'l' {
        return None;
    }
    let body = u32::from_le_bytes(fixed[4..8].try_into().ok()?) as usize;
    let fields = u32::from_le_bytes(fixed[12..16].try_into().ok()?) as usize;
    Some((16 + fields).next_multiple_of(8) + body)
}

/// A reader over encoded bytes, counting alignment from the start of the slice.
#[derive(Debug)]
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    /// Read `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf, pos: 0 }
    }

    fn align(&mut self, n: usize) -> Option<()> {
        self.pos = self.pos.next_multiple_of(n);
        (self.pos <= self.buf.len()).then_some(())
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// `u` (and `b`, `i`).
    pub fn u32(&mut self) -> Option<u32> {
        self.align(4)?;
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// `s` or `o`.
    pub fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        let s = self.take(n)?;
        self.take(1)?;
        String::from_utf8(s.to_vec()).ok()
    }

    /// `g`.
    pub fn sig(&mut self) -> Option<String> {
        let n = self.u8()? as usize;
        let s = self.take(n)?;
        self.take(1)?;
        String::from_utf8(s.to_vec()).ok()
    }

    /// A variant holding a string, object path, signature or `u` (other types: `None`).
    fn simple_variant(&mut self) -> Option<Variant> {
        match self.sig()?.as_str() {
            "s" | "o" => self.str().map(Variant::Str),
            "g" => self.sig().map(Variant::Str),
            "u" => self.u32().map(Variant::U32),
            _ => None,
        }
    }
}

enum Variant {
    Str(String),
    U32(u32),
}

/// Decode one whole message (`buf` is exactly [`message_len`] long).
pub fn decode(buf: &[u8]) -> Option<Message> {
    let mut d = Dec::new(buf);
    if d.u8()? != b'l' {
        return None;
    }
    let mut m = Message {
        kind: d.u8()?,
        ..Message::default()
    };
    d.take(2)?;
    let body_len = d.u32()? as usize;
    d.u32()?;
    let fields_len = d.u32()? as usize;
    let end = d.pos.checked_add(fields_len)?;
    while d.pos < end {
        d.align(8)?;
        let code = d.u8()?;
        let v = d.simple_variant()?;
        match (code, v) {
            (INTERFACE, Variant::Str(s)) => m.interface = s,
            (MEMBER, Variant::Str(s)) => m.member = s,
            (ERROR_NAME, Variant::Str(s)) => m.error_name = s,
            (SIGNATURE, Variant::Str(s)) => m.signature = s,
            (REPLY_SERIAL, Variant::U32(n)) => m.reply_serial = Some(n),
            _ => {}
        }
    }
    d.pos = end;
    d.align(8)?;
    m.body = d.take(body_len)?.to_vec();
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_call_is_laid_out_as_the_spec_says() {
        let call = Call {
            destination: "org.freedesktop.DBus",
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "Hello",
        };
        let m = method_call(call, 1, "", |_| {});
        assert_eq!(&m[..4], &[b'l', 1, 0, 1]);
        assert_eq!(&m[4..8], &0u32.to_le_bytes(), "no body");
        assert_eq!(&m[8..12], &1u32.to_le_bytes(), "serial");
        assert_eq!(message_len(&m), Some(m.len()));
        assert_eq!(m.len() % 8, 0);
        // The first header field: code 1 (path), signature "o", the path.
        assert_eq!(&m[16..20], &[PATH, 1, b'o', 0]);
        assert_eq!(&m[20..24], &21u32.to_le_bytes());
        assert_eq!(&m[24..45], b"/org/freedesktop/DBus");
    }

    #[test]
    fn properties_align_each_struct_and_variant() {
        let mut e = Enc::default();
        e.properties(&[
            ("Delegate".into(), Value::Bool(true)),
            ("PIDs".into(), Value::U32s(vec![7, 8])),
            ("MemoryMax".into(), Value::U64(1 << 20)),
        ]);
        let b = &e.buf;
        let len = u32::from_le_bytes(b[0..4].try_into().unwrap_or_default()) as usize;
        assert_eq!(len + 8, b.len(), "the length excludes the padding after it");
        // struct 1 at 8: "Delegate", variant "b", true.
        assert_eq!(&b[8..12], &8u32.to_le_bytes());
        assert_eq!(&b[12..21], b"Delegate\0");
        assert_eq!(&b[21..24], &[1, b'b', 0]);
        assert_eq!(&b[24..28], &1u32.to_le_bytes());
        // struct 2 at 32: "PIDs", variant "au": length 8, then 7 and 8.
        assert_eq!(&b[32..36], &4u32.to_le_bytes());
        assert_eq!(&b[36..41], b"PIDs\0");
        assert_eq!(&b[41..45], &[2, b'a', b'u', 0]);
        assert_eq!(&b[48..52], &8u32.to_le_bytes());
        assert_eq!(&b[52..60], &[7, 0, 0, 0, 8, 0, 0, 0]);
        // struct 3 at 64: "MemoryMax", variant "t", 8-aligned.
        assert_eq!(&b[64..68], &9u32.to_le_bytes());
        assert_eq!(&b[78..81], &[1, b't', 0]);
        assert_eq!(&b[88..96], &(1u64 << 20).to_le_bytes());
    }

    /// A reply as a peer would send it: header fields (reply serial 5, signature "o"), body.
    fn reply(kind: u8, body: &Enc, sig: &str, error: Option<&str>) -> Vec<u8> {
        let mut e = Enc::default();
        e.buf.extend_from_slice(&[b'l', kind, 1, 1]);
        e.u32(body.buf.len() as u32);
        e.u32(9);
        e.array(8, |e| {
            e.strukt();
            e.u8(REPLY_SERIAL);
            e.sig("u");
            e.u32(5);
            if let Some(name) = error {
                e.strukt();
                e.u8(ERROR_NAME);
                e.sig("s");
                e.str(name);
            }
            e.strukt();
            e.u8(SIGNATURE);
            e.sig("g");
            e.sig(sig);
        });
        e.align(8);
        e.buf.extend_from_slice(&body.buf);
        e.buf
    }

    #[test]
    fn replies_and_errors_decode() {
        let mut body = Enc::default();
        body.str("/org/freedesktop/systemd1/job/42");
        let r = reply(METHOD_RETURN, &body, "o", None);
        assert_eq!(message_len(&r), Some(r.len()));
        let m = decode(&r).unwrap_or_default();
        assert_eq!(m.kind, METHOD_RETURN);
        assert_eq!(m.reply_serial, Some(5));
        assert_eq!(m.signature, "o");
        assert_eq!(
            Dec::new(&m.body).str().as_deref(),
            Some("/org/freedesktop/systemd1/job/42")
        );
        let mut body = Enc::default();
        body.str("Unit x.scope already exists.");
        let name = "org.freedesktop.systemd1.UnitExists";
        let m = decode(&reply(ERROR, &body, "s", Some(name))).unwrap_or_default();
        assert_eq!((m.kind, m.error_name.as_str()), (ERROR, name));
    }

    #[test]
    fn truncated_or_lying_messages_are_refused() {
        let mut body = Enc::default();
        body.str("/job/1");
        let r = reply(METHOD_RETURN, &body, "o", None);
        for cut in 0..r.len() {
            assert_eq!(decode(&r[..cut]), None, "cut at {cut}");
        }
        let mut lying = r.clone();
        lying[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&lying), None);
        assert_eq!(message_len(b"B\0\0\0"), None);
    }
}
