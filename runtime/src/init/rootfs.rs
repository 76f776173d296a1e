//! ⑤ Root filesystem in the init: mounts resolved safely inside the rootfs (`openat2` with
//! `RESOLVE_IN_ROOT`, so neither symlinks nor `..` leave it), `/dev`, then `pivot_root`, masked
//! and read-only paths. No allocation: paths come from the plan; scratch space is on the stack.
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::channel::Fail;
use crate::channel::Step;
use crate::plan::{mounts::DEV_SYMLINKS, MountKind, MountOp, Plan};
use crate::sys::{self, Errno};

pub(super) const PATH_BUF: usize = 4096;

/// Copy `s` into `buf` NUL-terminated; `None` when it does not fit.
fn to_buf<'b>(s: &[u8], buf: &'b mut [u8; PATH_BUF]) -> Option<&'b CStr> {
    if s.len() >= PATH_BUF {
        return None;
    }
    buf[..s.len()].copy_from_slice(s);
    buf[s.len()] = 0;
    CStr::from_bytes_until_nul(&buf[..=s.len()]).ok()
}

/// Open `dest` (absolute, inside the rootfs) as `O_PATH`, creating missing directories (and the
/// final component as an empty file when `file`) without ever leaving the rootfs. A dangling
/// symlink on the way is followed inside the rootfs and its target created, as runc does.
pub fn open_or_create(root: BorrowedFd<'_>, dest: &CStr, file: bool) -> Result<OwnedFd, Errno> {
    match sys::open_in_root(root, dest, libc::O_PATH) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let mut path = [0u8; PATH_BUF];
    let mut len = dest.to_bytes().len();
    if len >= PATH_BUF {
        return Err(Errno::ENAMETOOLONG);
    }
    path[..len].copy_from_slice(dest.to_bytes());
    let mut hops = 0;
    loop {
        let mut link = [0u8; PATH_BUF];
        match walk_creating(root, &path[..len], file, &mut link)? {
            Walk::Opened(fd) => return Ok(fd),
            Walk::Dangling { start, end, n } => {
                // A dangling symlink: splice its target into the path and walk again.
                hops += 1;
                if hops > 40 || n >= PATH_BUF {
                    return Err(Errno::ELOOP);
                }
                len = splice_link(&mut path, len, start, end, &link[..n])?;
            }
        }
    }
}

/// How one walk of [`walk_creating`] ended.
enum Walk {
    /// Every component exists now: the last one, opened `O_PATH` (the rootfs's `/` when the
    /// path has no component).
    Opened(OwnedFd),
    /// The component at `path[start..end]` is a dangling symlink, its target (`n` bytes) read
    /// into the caller's buffer: nothing was created at or below it.
    Dangling { start: usize, end: usize, n: usize },
}

/// One walk along `path` from the rootfs's `/`, one component at a time. Each prefix is opened
/// with `RESOLVE_IN_ROOT` (its symlinks and `..` stay inside the rootfs); a missing component is
/// checked for a dangling symlink in the directory that resolution reached (`readlinkat`, into
/// `link`: the walk stops there, see [`Walk::Dangling`]), else created in it by
/// [`create_component`] (a file when it is the last and `file`) and its prefix opened again.
fn walk_creating(
    root: BorrowedFd<'_>,
    path: &[u8],
    file: bool,
    link: &mut [u8; PATH_BUF],
) -> Result<Walk, Errno> {
    let len = path.len();
    let mut buf = [0u8; PATH_BUF];
    let mut name = [0u8; PATH_BUF];
    let mut parent = sys::open_in_root(root, c"/", libc::O_PATH | libc::O_DIRECTORY)?;
    let mut i = 0;
    while i < len {
        while i < len && path[i] == b'/' {
            i += 1;
        }
        if i >= len {
            break;
        }
        let start = i;
        while i < len && path[i] != b'/' {
            i += 1;
        }
        let is_last = path[i..len].iter().all(|b| *b == b'/');
        let prefix = to_buf(&path[..i], &mut buf).ok_or(Errno::ENAMETOOLONG)?;
        match sys::open_in_root(root, prefix, libc::O_PATH) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let comp = to_buf(&path[start..i], &mut name).ok_or(Errno::ENAMETOOLONG)?;
        match sys::readlinkat(parent.as_fd(), comp, link) {
            Ok(n) => return Ok(Walk::Dangling { start, end: i, n }),
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        create_component(parent.as_fd(), comp, is_last && file)?;
        parent = sys::open_in_root(root, prefix, libc::O_PATH)?;
    }
    Ok(Walk::Opened(parent))
}

/// Create `comp` in `parent`: an empty file (`O_EXCL | O_NOFOLLOW`: never through a symlink
/// planted meanwhile) when `as_file`, else a directory. One that appeared since the walk looked
/// (`EEXIST`) is fine: the caller opens the prefix again by resolution inside the rootfs.
fn create_component(parent: BorrowedFd<'_>, comp: &CStr, as_file: bool) -> Result<(), Errno> {
    let created = if as_file {
        sys::openat(
            parent,
            comp,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
            0o644,
        )
        .map(drop)
    } else {
        sys::mkdirat(parent, comp, 0o755)
    };
    match created {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replace the symlink at `path[start..end]` (of `len` bytes in all) by its `target`: an absolute
/// target replaces everything before it too (it is resolved from the rootfs's `/` again), a
/// relative one is joined to the directory holding the link; the rest of the path follows.
/// Returns the new length; `ENAMETOOLONG` when the result would not fit `path`.
fn splice_link(
    path: &mut [u8; PATH_BUF],
    len: usize,
    start: usize,
    end: usize,
    target: &[u8],
) -> Result<usize, Errno> {
    let mut next = [0u8; PATH_BUF];
    let mut nlen = 0;
    let mut push = |bytes: &[u8], nlen: &mut usize| -> Result<(), Errno> {
        if *nlen + bytes.len() >= PATH_BUF {
            return Err(Errno::ENAMETOOLONG);
        }
        next[*nlen..*nlen + bytes.len()].copy_from_slice(bytes);
        *nlen += bytes.len();
        Ok(())
    };
    if target.first() != Some(&b'/') {
        push(&path[..start], &mut nlen)?;
    }
    push(target, &mut nlen)?;
    push(&path[end..len], &mut nlen)?;
    *path = next;
    Ok(nlen)
}

/// Split an absolute path into its parent directory (opened/created inside the rootfs) and the
/// final component copied into `name`.
pub(super) fn open_parent<'n>(
    root: BorrowedFd<'_>,
    path: &CStr,
    name: &'n mut [u8; PATH_BUF],
) -> Result<(OwnedFd, &'n CStr), Errno> {
    let bytes = path.to_bytes();
    let trimmed = {
        let mut end = bytes.len();
        while end > 1 && bytes[end - 1] == b'/' {
            end -= 1;
        }
        &bytes[..end]
    };
    let slash = trimmed.iter().rposition(|b| *b == b'/').unwrap_or(0);
    let mut dir = [0u8; PATH_BUF];
    let parent_path = if slash == 0 {
        &b"/"[..]
    } else {
        &trimmed[..slash]
    };
    let parent_c = to_buf(parent_path, &mut dir).ok_or(Errno::ENAMETOOLONG)?;
    let parent = open_or_create(root, parent_c, false)?;
    let leaf = to_buf(&trimmed[slash + 1..], name).ok_or(Errno::ENAMETOOLONG)?;
    Ok((parent, leaf))
}

pub(super) fn fail<'a>(step: Step, errno: Errno, detail: &'a CStr) -> Fail<'a> {
    Fail {
        step,
        errno: errno as i32,
        detail: detail.to_bytes(),
        at: Fail::NOWHERE,
    }
}

/// A tmpfs's data: as configured, but without a `mode=` it takes the mode of the directory it
/// covers (runc copies it; the kernel's default, 1777, would replace e.g. 3777 or 0755).
fn tmpfs_data<'b>(
    data: Option<&'b CStr>,
    target: BorrowedFd<'_>,
    buf: &'b mut [u8; PATH_BUF],
) -> Option<&'b CStr> {
    let given = data.map_or(&b""[..], CStr::to_bytes);
    if given.split(|c| *c == b',').any(|o| o.starts_with(b"mode=")) {
        return data;
    }
    let Ok(st) = sys::fstat(target) else {
        return data;
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return data;
    }
    let mut n = 0;
    for b in b"mode=0" {
        buf[n] = *b;
        n += 1;
    }
    let mode = st.st_mode & 0o7777;
    for shift in [9, 6, 3, 0] {
        buf[n] = b'0' + ((mode >> shift) & 7) as u8;
        n += 1;
    }
    if !given.is_empty() {
        if n + 1 + given.len() >= buf.len() {
            return data;
        }
        buf[n] = b',';
        buf[n + 1..n + 1 + given.len()].copy_from_slice(given);
        n += 1 + given.len();
    }
    buf[n] = 0;
    CStr::from_bytes_with_nul(&buf[..=n]).ok()
}

/// May `op` be mounted onto procfs? A procfs mount, or a destination that names `/proc/...` by
/// itself (validation allows only some files there, as runc).
fn lands_in_proc(op: &MountOp) -> bool {
    let d = op.dest.to_bytes();
    let by_name = d.starts_with(b"/proc") && (d.len() == 5 || d[5] == b'/');
    by_name || matches!(&op.kind, MountKind::Fs { fstype, .. } if fstype.to_bytes() == b"proc")
}

/// Perform one mount operation: a symlink, or a mount onto `op.dest` (opened, or created, inside
/// the rootfs; into procfs only where [`lands_in_proc`] allows it) followed by the new mount's
/// own attributes and propagation.
fn do_mount<'a>(
    root: BorrowedFd<'_>,
    op: &'a MountOp,
    tree: Option<BorrowedFd<'_>>,
) -> Result<(), Fail<'a>> {
    if let MountKind::Symlink { target } = &op.kind {
        return make_symlink(root, op, target);
    }
    if let MountKind::Fs { fstype, .. } = &op.kind {
        // As runc: procfs and sysfs only on an ordinary directory, never through a symlink the
        // image planted (where masks and read-only paths would then miss them).
        if fstype.to_bytes() == b"proc" || fstype.to_bytes() == b"sysfs" {
            let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS;
            match sys::openat2(root, &op.dest, libc::O_PATH, resolve) {
                Ok(_) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(fail(Step::MountTarget, e, &op.dest)),
            }
        }
    }
    let target = open_or_create(root, &op.dest, op.file_target)
        .map_err(|e| fail(Step::MountTarget, e, &op.dest))?;
    // The image's symlinks can lead a destination into /proc (`/evil` → `proc`; CVE-2023-27561):
    // only procfs itself, or a `/proc/<file>` destination validation allowed, may land there.
    if !lands_in_proc(op) && crate::procfs::is_procfs(target.as_fd()) {
        return Err(fail(Step::MountIntoProc, sys::WRONG_OBJECT, &op.dest));
    }
    if mount_onto(op, target.as_fd(), tree)? {
        set_top(root, op)?;
    }
    Ok(())
}

/// A [`MountKind::Symlink`]: `op.dest` made a symlink to `target`, its parent directories
/// created inside the rootfs. Whatever is at `op.dest` already (`EEXIST`) is left as it is.
fn make_symlink<'a>(root: BorrowedFd<'_>, op: &'a MountOp, target: &CStr) -> Result<(), Fail<'a>> {
    let mut name = [0u8; PATH_BUF];
    let (parent, leaf) =
        open_parent(root, &op.dest, &mut name).map_err(|e| fail(Step::MountTarget, e, &op.dest))?;
    match sys::symlinkat(target, parent.as_fd(), leaf) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(fail(Step::DevSymlink, e, &op.dest)),
    }
}

/// The mount itself, on exactly the `target` that was resolved and checked (a bind, an idmapped
/// bind's detached copy `tree`, or a new filesystem through its `/proc/self/fd` path, a tmpfs's data from [`tmpfs_data`]; the
/// read-only remount of an earlier destination on the fd itself). Returns whether the new mount
/// still needs its own attributes or propagation, set through [`set_top`].
fn mount_onto<'a>(
    op: &'a MountOp,
    target: BorrowedFd<'_>,
    tree: Option<BorrowedFd<'_>>,
) -> Result<bool, Fail<'a>> {
    let mut pbuf = [0u8; 32];
    let tpath = sys::proc_fd_path(target.as_raw_fd(), &mut pbuf);
    let own_attrs = op.attr_set | op.rattr_set | op.rattr_clr != 0 || !op.propagation.is_empty();
    // An idmapped bind: the parent's detached copy, attached here.
    if let (MountKind::Bind { .. }, Some(tree)) = (&op.kind, tree) {
        sys::move_mount_fd(tree, target).map_err(|e| fail(Step::Mount, e, &op.dest))?;
        return Ok(own_attrs);
    }
    match &op.kind {
        MountKind::Bind { source, recursive } => {
            let flags = libc::MS_BIND | if *recursive { libc::MS_REC } else { 0 };
            sys::mount(Some(source), tpath, None, flags, None)
                .map_err(|e| fail(Step::Mount, e, &op.dest))?;
            Ok(own_attrs)
        }
        MountKind::Fs { fstype, source } => {
            let mut buf = [0u8; PATH_BUF];
            let data = if fstype.to_bytes() == b"tmpfs" {
                tmpfs_data(op.data.as_deref(), target, &mut buf)
            } else {
                op.data.as_deref()
            };
            match sys::mount(Some(source), tpath, Some(fstype), op.flags, data) {
                Ok(()) => {}
                Err(Errno::EPERM) if fstype.to_bytes() == b"sysfs" => bind_host_sysfs(op, target)?,
                Err(e) => return Err(fail(Step::Mount, e, &op.dest)),
            }
            Ok(own_attrs)
        }
        MountKind::RemountRo => {
            sys::mount_setattr(
                target.as_raw_fd(),
                c"",
                libc::AT_EMPTY_PATH as libc::c_uint,
                op.attr_set,
                0,
            )
            .map_err(|e| fail(Step::MountAttr, e, &op.dest))?;
            Ok(false)
        }
        MountKind::Symlink { .. } => Ok(false),
    }
}

/// sysfs can be mounted only by a user namespace that owns the network namespace: a container in
/// a new user namespace beside the host's network gets the host's `/sys` tree instead, as runc
/// does, with the mount's flags (`ro`, `nosuid`, …) set on every mount of the copy before it is
/// attached (so no moment exists where it is writable). `/sys` is checked to be sysfs.
fn bind_host_sysfs<'a>(op: &'a MountOp, target: BorrowedFd<'_>) -> Result<(), Fail<'a>> {
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    let failed = |e| fail(Step::Mount, e, &op.dest);
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let host_sys = sys::open(c"/sys", flags, 0).map_err(failed)?;
    if sys::fstatfs_type(host_sys.as_fd()).map_err(failed)? != SYSFS_MAGIC {
        return Err(failed(sys::WRONG_OBJECT));
    }
    let recursive = libc::AT_RECURSIVE as libc::c_uint;
    let tree =
        sys::open_tree_fd(host_sys.as_fd(), sys::OPEN_TREE_CLONE | recursive).map_err(failed)?;
    let attrs = crate::plan::mounts::attr_from_flags(op.flags);
    let empty = libc::AT_EMPTY_PATH as libc::c_uint;
    sys::mount_setattr(tree.as_raw_fd(), c"", empty | recursive, attrs, 0).map_err(failed)?;
    sys::move_mount_fd(tree.as_fd(), target).map_err(failed)
}

/// A new mount's own attributes and propagation, set on its root: `attr_set` on the top mount
/// (unless deferred until every mount point below exists, see [`prepare`]), the recursive set
/// and clear with `AT_RECURSIVE`, then each propagation change in order.
fn set_top<'a>(root: BorrowedFd<'_>, op: &'a MountOp) -> Result<(), Fail<'a>> {
    // The O_PATH fd still points below the new mount: reopen to reach the mount's root.
    let top = sys::open_in_root(root, &op.dest, libc::O_PATH)
        .map_err(|e| fail(Step::MountTarget, e, &op.dest))?;
    if op.attr_set != 0 && !op.defer_attr {
        let flags = libc::AT_EMPTY_PATH as libc::c_uint;
        sys::mount_setattr(top.as_raw_fd(), c"", flags, op.attr_set, 0)
            .map_err(|e| fail(Step::MountAttr, e, &op.dest))?;
    }
    if op.rattr_set | op.rattr_clr != 0 {
        let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
        sys::mount_setattr(top.as_raw_fd(), c"", flags, op.rattr_set, op.rattr_clr)
            .map_err(|e| fail(Step::MountAttr, e, &op.dest))?;
    }
    let mut tbuf = [0u8; 32];
    let tp = sys::proc_fd_path(top.as_raw_fd(), &mut tbuf);
    for p in &op.propagation {
        sys::mount(None, tp, None, *p, None)
            .map_err(|e| fail(Step::MountPropagation, e, &op.dest))?;
    }
    Ok(())
}

/// Everything before `pivot_root`: propagation, the rootfs bind, `mounts[]`, devices, symlinks.
pub fn prepare<'a>(
    plan: &'a Plan,
    chan: &crate::channel::ChildSide<'_>,
    trees: &crate::launch::idmap::Trees,
) -> Result<OwnedFd, Fail<'a>> {
    sys::mount(None, c"/", None, plan.root.initial_propagation, None)
        .map_err(|e| fail(Step::RootPropagation, e, c"/"))?;
    if let Some(mp) = &plan.root.private_parent {
        sys::mount(None, mp, None, libc::MS_PRIVATE, None)
            .map_err(|e| fail(Step::RootPropagation, e, mp))?;
    }
    sys::mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(|e| fail(Step::BindRootfs, e, &plan.rootfs))?;
    let root = sys::open(&plan.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| fail(Step::BindRootfs, e, &plan.rootfs))?;
    for (i, op) in plan.mounts.iter().enumerate() {
        super::at_mount(plan, i, chan)?;
        do_mount(root.as_fd(), op, trees.get(i)).map_err(|f| f.at(i))?;
    }
    super::at_mount(plan, plan.mounts.len(), chan)?;
    for (i, d) in plan.devices.iter().enumerate() {
        super::devices::make(root.as_fd(), d).map_err(|f| f.at(i))?;
    }
    if plan.dev_symlinks {
        let mut name = [0u8; PATH_BUF];
        for (link, target) in DEV_SYMLINKS {
            let (parent, leaf) = open_parent(root.as_fd(), link, &mut name)
                .map_err(|e| fail(Step::DevSymlink, e, link))?;
            match sys::symlinkat(target, parent.as_fd(), leaf) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(fail(Step::DevSymlink, e, link)),
            }
        }
    }
    // A missing `process.cwd` is created (as root, inside the rootfs), as runc does: Kubernetes'
    // `workingDir` relies on it.
    open_or_create(root.as_fd(), &plan.process.cwd, false)
        .map_err(|e| fail(Step::Cwd, e, &plan.process.cwd))?;
    // The binds' own attributes (`ro`, …), now that every mount point below them exists.
    for (i, op) in plan.mounts.iter().enumerate().filter(|(_, o)| o.defer_attr) {
        let fail = |e| fail(Step::MountAttr, e, &op.dest).at(i);
        let top = sys::open_in_root(root.as_fd(), &op.dest, libc::O_PATH).map_err(fail)?;
        let flags = libc::AT_EMPTY_PATH as libc::c_uint;
        sys::mount_setattr(top.as_raw_fd(), c"", flags, op.attr_set, 0).map_err(fail)?;
    }
    Ok(root)
}

/// Enter the new root: `pivot_root(".", ".")` and a lazy unmount of the old root stacked below,
/// or with `--no-pivot` an `MS_MOVE` onto `/` and `chroot`.
pub fn enter<'a>(plan: &'a Plan) -> Result<(), Fail<'a>> {
    sys::chdir(&plan.rootfs).map_err(|e| fail(Step::PivotRoot, e, &plan.rootfs))?;
    if plan.root.no_pivot {
        for mp in &plan.root.hide {
            // Gone already with a parent detached before it: fine.
            match sys::umount2(mp, libc::MNT_DETACH) {
                Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(fail(Step::Chroot, e, mp)),
            }
        }
        sys::mount(Some(&plan.rootfs), c"/", None, libc::MS_MOVE, None)
            .map_err(|e| fail(Step::Chroot, e, &plan.rootfs))?;
        sys::chroot(c".").map_err(|e| fail(Step::Chroot, e, &plan.rootfs))?;
    } else {
        let old = sys::open(c"/", libc::O_DIRECTORY | libc::O_RDONLY, 0)
            .map_err(|e| fail(Step::PivotRoot, e, c"/"))?;
        sys::pivot_root(c".", c".").map_err(|e| fail(Step::PivotRoot, e, &plan.rootfs))?;
        sys::fchdir(old.as_fd()).map_err(|e| fail(Step::PivotRoot, e, c"/"))?;
        sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)
            .map_err(|e| fail(Step::UmountOldRoot, e, c"/"))?;
        sys::umount2(c".", libc::MNT_DETACH).map_err(|e| fail(Step::UmountOldRoot, e, c"/"))?;
    }
    sys::chdir(c"/").map_err(|e| fail(Step::PivotRoot, e, c"/"))?;
    if let Some(p) = plan.root.final_propagation {
        sys::mount(None, c"/", None, p, None).map_err(|e| fail(Step::RootPropagation, e, c"/"))?;
    }
    Ok(())
}

/// The container's `/dev/null`, opened once after the pivot without following symlinks and checked
/// to be the character device 1:3: masking binds it (as runc), and never what an image's fake
/// `/dev/null` leads to (a symlink to a host-global procfs file: the CVE-2025-31133 class).
fn open_null<'a>(root: BorrowedFd<'_>) -> Result<OwnedFd, Fail<'a>> {
    let not_null = || fail(Step::NotNullDevice, sys::WRONG_OBJECT, c"/dev/null");
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    let fd = match sys::openat2(root, c"/dev/null", libc::O_PATH | libc::O_NOFOLLOW, resolve) {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOENT) => return Err(not_null()),
        Err(e) => return Err(fail(Step::MaskPath, e, c"/dev/null")),
    };
    let st = sys::fstat(fd.as_fd()).map_err(|e| fail(Step::MaskPath, e, c"/dev/null"))?;
    if !sys::is_null_device(&st) {
        return Err(not_null());
    }
    Ok(fd)
}

/// A path inside the new root, opened once (`O_PATH`, `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`):
/// what is then mounted over is exactly what was resolved. `None` when it does not exist.
fn open_target(root: BorrowedFd<'_>, path: &CStr) -> Result<Option<OwnedFd>, Errno> {
    match sys::open_in_root(root, path, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// After the pivot: sysctls, read-only and masked paths, read-only root. Each path is resolved
/// once and acted on by fd (procfs files through the verified handle of [`crate::procfs`], mounts
/// with `open_tree`/`move_mount`), so nothing can be swapped between a check and its use.
/// `root`: the new root directory.
pub fn finish<'a>(plan: &'a Plan, root: BorrowedFd<'_>) -> Result<(), Fail<'a>> {
    if !plan.sysctl.is_empty() {
        let proc =
            crate::procfs::open_root(c"/proc").map_err(|e| fail(Step::Sysctl, e, c"/proc"))?;
        for (i, (path, value, _)) in plan.sysctl.iter().enumerate() {
            let fd = crate::procfs::open_at(proc.as_fd(), path, libc::O_WRONLY | libc::O_TRUNC)
                .map_err(|e| fail(Step::Sysctl, e, path).at(i))?;
            sys::write(fd.as_fd(), value.to_bytes())
                .map_err(|e| fail(Step::Sysctl, e, path).at(i))?;
        }
    }
    for (i, path) in plan.readonly.iter().enumerate() {
        let fail = |e| fail(Step::ReadonlyPath, e, path).at(i);
        let Some(target) = open_target(root, path).map_err(fail)? else {
            continue;
        };
        let tree = sys::open_tree_fd(
            target.as_fd(),
            sys::OPEN_TREE_CLONE | libc::AT_RECURSIVE as libc::c_uint,
        )
        .map_err(fail)?;
        sys::mount_setattr_fd(tree.as_fd(), true, sys::MOUNT_ATTR_RDONLY, 0).map_err(fail)?;
        sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(fail)?;
    }
    let mut null = None;
    for (i, path) in plan.masked.iter().enumerate() {
        let fail = |e| fail(Step::MaskPath, e, path).at(i);
        let Some(target) = open_target(root, path).map_err(fail)? else {
            continue;
        };
        let st = sys::fstat(target.as_fd()).map_err(fail)?;
        let mask = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            sys::fsopen(c"tmpfs").and_then(|ctx| {
                sys::fsconfig_create(ctx.as_fd())?;
                sys::fsmount(ctx.as_fd(), sys::MOUNT_ATTR_RDONLY)
            })
        } else {
            // Opened and checked on the first masked file, then cloned for each.
            let n = match null.take() {
                Some(n) => n,
                None => open_null(root)?,
            };
            let clone = sys::open_tree_fd(n.as_fd(), sys::OPEN_TREE_CLONE);
            null = Some(n);
            clone
        };
        let mask = mask.map_err(fail)?;
        sys::move_mount_fd(mask.as_fd(), target.as_fd()).map_err(fail)?;
    }
    if plan.root.readonly {
        sys::mount_setattr(libc::AT_FDCWD, c"/", 0, sys::MOUNT_ATTR_RDONLY, 0)
            .map_err(|e| fail(Step::ReadonlyRoot, e, c"/"))?;
    }
    Ok(())
}
