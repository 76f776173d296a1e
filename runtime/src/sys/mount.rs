//! Mounts: `mount(2)`, `umount2(2)`, `mount_setattr(2)` and the new mount API (`fsopen`,
//! `fsconfig`, `fsmount`) the init and the re-exec of the runtime binary use, and changing root
//! and cwd (`pivot_root`, `chroot`, `chdir`, `fchdir`). The by-fd detached-mount calls
//! (`open_tree`, `move_mount`) live in `fd.rs`.
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, check_long, SysResult};

/// `mount_setattr(2)` attribute bits.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `mount_setattr(2)`: nosuid.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `mount_setattr(2)`: nodev.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `mount_setattr(2)`: noexec.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// `mount_setattr(2)`: the atime mode field (set it in `attr_clr` to change the mode).
pub const MOUNT_ATTR_ATIME: u64 = 0x70;
/// `mount_setattr(2)` atime mode: relatime (the zero value of the field).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
/// `mount_setattr(2)` atime mode: noatime.
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
/// `mount_setattr(2)` atime mode: strictatime.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
/// `mount_setattr(2)`: nodiratime.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
/// `mount_setattr(2)`: nosymfollow.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

fn ptr_or_null(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(std::ptr::null(), CStr::as_ptr)
}

/// `mount(2)`.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    // SAFETY: all pointers are NUL-terminated strings or NULL, valid for the call.
    check(unsafe {
        libc::mount(
            ptr_or_null(source),
            target.as_ptr(),
            ptr_or_null(fstype),
            flags,
            ptr_or_null(data).cast(),
        )
    })
    .map(drop)
}

/// `umount2(2)`.
pub fn umount2(target: &CStr, flags: libc::c_int) -> SysResult<()> {
    // SAFETY: target is a valid C string.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `MOUNT_ATTR_IDMAP`: idmap the mount with a user namespace's mappings.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `mount_setattr(2)` of `MOUNT_ATTR_IDMAP` on the detached mount `tree` (its whole tree with
/// `recursive`), mapped as the user namespace `userns` maps ids.
pub fn mount_setattr_idmap(
    tree: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> SysResult<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: attr is a valid mount_attr of the size passed, with a live userns fd; the path is an
    // empty C string with AT_EMPTY_PATH on a live fd.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// `mount_setattr(2)` on `dirfd`/`path`: set `attr_set` bits (recursively with `AT_RECURSIVE`).
pub fn mount_setattr(
    dirfd: RawFd,
    path: &CStr,
    flags: libc::c_uint,
    attr_set: u64,
    attr_clr: u64,
) -> SysResult<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: attr is a valid mount_attr of the size passed; path is a valid C string.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// `fsopen(2)` with `FSOPEN_CLOEXEC`: a filesystem context for `fstype`.
pub fn fsopen(fstype: &CStr) -> SysResult<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fstype is a valid C string.
    let fd =
        check_long(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `fsconfig(FSCONFIG_SET_STRING)`: set `key=value` on a filesystem context.
pub fn fsconfig_string(ctx: BorrowedFd<'_>, key: &CStr, value: &CStr) -> SysResult<()> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    // SAFETY: key and value are valid C strings, ctx a live fs context fd.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`: make the superblock of a filesystem context.
pub fn fsconfig_create(ctx: BorrowedFd<'_>) -> SysResult<()> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    // SAFETY: integer and NULL arguments on a live fs context fd.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })
    .map(drop)
}

/// `fsmount(2)` with `FSMOUNT_CLOEXEC`: a detached mount of a created context, with `MOUNT_ATTR_*`.
pub fn fsmount(ctx: BorrowedFd<'_>, attrs: u64) -> SysResult<OwnedFd> {
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: integer arguments on a live fs context fd.
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pivot_root(2)`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both are valid C strings.
    check_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// `chdir(2)`.
pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// `fchdir(2)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: plain syscall on a live fd.
    check(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

/// `chroot(2)`.
pub fn chroot(path: &CStr) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    check(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}
