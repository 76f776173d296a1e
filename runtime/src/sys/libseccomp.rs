//! Test only: libseccomp 2.5 (the library runc links), loaded with `dlopen` for the differential
//! test of the seccomp compiler (`seccomp/versus_libseccomp.rs`, which holds the comparison):
//! sangja itself never links it. Safe wrappers over the few entry points runc uses, with the
//! filter context owned by a [`Filter`] and released once. These allocate freely: tests only.
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::{Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// `struct scmp_arg_cmp`: one argument condition of a rule.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgCmp {
    /// The argument's index (0–5).
    pub arg: u32,
    /// `enum scmp_compare` (`SCMP_CMP_NE` = 1 … `SCMP_CMP_MASKED_EQ` = 7).
    pub op: u32,
    /// First operand.
    pub datum_a: u64,
    /// Second operand (the value of `SCMP_CMP_MASKED_EQ`).
    pub datum_b: u64,
}

/// The entry points, with their libseccomp 2.x C signatures.
struct Fns {
    init: unsafe extern "C" fn(u32) -> *mut c_void,
    arch_add: unsafe extern "C" fn(*mut c_void, u32) -> c_int,
    rule_add_array: unsafe extern "C" fn(*mut c_void, u32, c_int, u32, *const ArgCmp) -> c_int,
    resolve: unsafe extern "C" fn(*const c_char) -> c_int,
    resolve_arch: unsafe extern "C" fn(u32, *const c_char) -> c_int,
    export: unsafe extern "C" fn(*const c_void, c_int) -> c_int,
    release: unsafe extern "C" fn(*mut c_void),
}

/// libseccomp, loaded (never unloaded: the handle is leaked, so the function pointers stay
/// valid). Not `Send`/`Sync`: used from the thread that opened it, since libseccomp keeps some
/// global state of its own.
pub(crate) struct Libseccomp {
    fns: Fns,
    _one_thread: PhantomData<*mut ()>,
}

impl std::fmt::Debug for Libseccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Libseccomp")
    }
}

/// Look up `name` in the library `h`.
///
/// Every call below instantiates `F` with the `unsafe extern "C" fn` type that libseccomp 2.x
/// declares for `name`; that is the whole of this helper's contract, kept by this file.
fn sym<F: Copy>(h: NonNull<c_void>, name: &CStr) -> Option<F> {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    // SAFETY: `h` is a live dlopen handle (never closed) and `name` a C string.
    let p = unsafe { libc::dlsym(h.as_ptr(), name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `F` is a function pointer type of pointer size (asserted above) whose signature is
    // the one libseccomp 2.x gives `name` (see the callers); a non-NULL symbol address from
    // dlsym is a valid value of it, and the library stays loaded.
    Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
}

impl Libseccomp {
    /// `dlopen("libseccomp.so.2")`; `None` when it or one of the entry points is missing.
    pub(crate) fn open() -> Option<Libseccomp> {
        // SAFETY: loading a system library by name; its initialisers are libseccomp's own and
        // touch nothing of ours.
        let h = NonNull::new(unsafe { libc::dlopen(c"libseccomp.so.2".as_ptr(), libc::RTLD_NOW) })?;
        let fns = Fns {
            init: sym(h, c"seccomp_init")?,
            arch_add: sym(h, c"seccomp_arch_add")?,
            rule_add_array: sym(h, c"seccomp_rule_add_array")?,
            resolve: sym(h, c"seccomp_syscall_resolve_name")?,
            resolve_arch: sym(h, c"seccomp_syscall_resolve_name_arch")?,
            export: sym(h, c"seccomp_export_bpf")?,
            release: sym(h, c"seccomp_release")?,
        };
        Some(Libseccomp {
            fns,
            _one_thread: PhantomData,
        })
    }

    /// `seccomp_syscall_resolve_name`: the native number of `name`, `-1` when unknown.
    pub(crate) fn resolve(&self, name: &CStr) -> c_int {
        // SAFETY: `name` is a C string that outlives the call; libseccomp only reads it.
        unsafe { (self.fns.resolve)(name.as_ptr()) }
    }

    /// `seccomp_syscall_resolve_name_arch`: the number of `name` on the ABI `arch` (an
    /// `AUDIT_ARCH_*`/`SCMP_ARCH_*` token), negative when unknown there.
    pub(crate) fn resolve_arch(&self, arch: u32, name: &CStr) -> c_int {
        // SAFETY: `name` is a C string that outlives the call; libseccomp only reads it.
        unsafe { (self.fns.resolve_arch)(arch, name.as_ptr()) }
    }

    /// `seccomp_init(default_action)`: a new filter; `None` when libseccomp refuses the action.
    pub(crate) fn filter(&self, default_action: u32) -> Option<Filter<'_>> {
        // SAFETY: plain integer argument; the context returned is owned by the Filter.
        let ctx = NonNull::new(unsafe { (self.fns.init)(default_action) })?;
        Some(Filter { lib: self, ctx })
    }
}

/// A libseccomp filter context (`scmp_filter_ctx`), released on drop.
pub(crate) struct Filter<'l> {
    lib: &'l Libseccomp,
    ctx: NonNull<c_void>,
}

impl std::fmt::Debug for Filter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Filter")
    }
}

impl Filter<'_> {
    /// `seccomp_arch_add`: 0, or a negative errno (`-EEXIST` when already there).
    pub(crate) fn arch_add(&mut self, arch: u32) -> c_int {
        // SAFETY: `ctx` is the live context from seccomp_init, released only in drop.
        unsafe { (self.lib.fns.arch_add)(self.ctx.as_ptr(), arch) }
    }

    /// `seccomp_rule_add_array`: a rule for syscall `nr` with the conditions `conds`; 0 or a
    /// negative errno.
    pub(crate) fn rule_add(&mut self, action: u32, nr: c_int, conds: &[ArgCmp]) -> c_int {
        let Ok(n) = u32::try_from(conds.len()) else {
            return -libc::EINVAL;
        };
        // SAFETY: `ctx` is live; `conds` holds `n` initialised scmp_arg_cmp-shaped entries, which
        // libseccomp only reads during the call.
        unsafe { (self.lib.fns.rule_add_array)(self.ctx.as_ptr(), action, nr, n, conds.as_ptr()) }
    }

    /// `seccomp_export_bpf` into a memfd, read back: the program as raw `sock_filter` bytes.
    pub(crate) fn export_bpf(&self) -> std::io::Result<Vec<u8>> {
        let fd = super::memfd_create(c"bpf", libc::MFD_CLOEXEC)?;
        // SAFETY: `ctx` is live and `fd` an open memfd we own, borrowed for the call.
        let rc = unsafe { (self.lib.fns.export)(self.ctx.as_ptr(), fd.as_raw_fd()) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(-rc));
        }
        let mut file = std::fs::File::from(fd);
        file.seek(SeekFrom::Start(0))?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)?;
        Ok(raw)
    }
}

impl Drop for Filter<'_> {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from seccomp_init and is released once, here; it is not used after.
        unsafe { (self.lib.fns.release)(self.ctx.as_ptr()) };
    }
}
