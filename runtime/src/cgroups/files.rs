//! The vocabulary of cgroup writes ([`W`], [`Write`], [`Mode`]), small file helpers, and the
//! value checks that v1 and v2 share.
use std::borrow::Cow;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use oci_spec::runtime::{LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use super::error::CgroupError;

/// JSON path of `linux.resources.memory`.
pub(super) const MEM: &str = "linux.resources.memory";

pub(super) fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// A cgroup file's content, trimmed; `None` when it cannot be read.
pub(super) fn read_trim(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// One file write of a resource, before the directory is known: produced by [`super::v1`] and [`super::v2`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct W {
    /// File name in the cgroup directory.
    pub file: Cow<'static, str>,
    /// Value written.
    pub value: String,
    /// JSON path of the resource, for errors.
    pub field: Cow<'static, str>,
    /// Written instead when `file` does not exist (BFQ's `blkio.bfq.weight` for `blkio.weight`).
    pub alt: Option<(&'static str, String)>,
    /// A missing file is not an error (files only some kernels have, e.g. `rsvd` hugetlb limits).
    pub optional: bool,
}

impl W {
    pub(crate) fn new(
        file: impl Into<Cow<'static, str>>,
        value: impl ToString,
        field: impl Into<Cow<'static, str>>,
    ) -> W {
        W {
            file: file.into(),
            value: value.to_string(),
            field: field.into(),
            alt: None,
            optional: false,
        }
    }

    pub(super) fn or(mut self, file: &'static str, value: impl ToString) -> W {
        self.alt = Some((file, value.to_string()));
        self
    }

    pub(super) fn optional(mut self) -> W {
        self.optional = true;
        self
    }
}

/// A planned write: [`W`] placed in one of the cgroup's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    /// Index into [`Cgroup::dirs`](super::layout::Cgroup::dirs).
    pub dir: usize,
    /// On cgroup2: the controller to enable in the ancestors when the file is missing.
    pub v2_controller: Option<Cow<'static, str>>,
    /// The file, value and field.
    pub w: W,
}

/// Why resources are written: a fresh cgroup, or `update` of a live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `create`: the cgroup is new, its files hold the kernel's defaults; devices are set up.
    Create,
    /// `update`: values may need ordering against the current ones (read only then); devices are
    /// left alone (as runc).
    Update,
}

/// `linux.resources.cpu.{cpus,mems}`.
pub(super) fn cpuset(cpu: &LinuxCpu) -> Vec<W> {
    let mut out = Vec::new();
    if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        out.push(W::new("cpuset.cpus", c, "linux.resources.cpu.cpus"));
    }
    if let Some(m) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
        out.push(W::new("cpuset.mems", m, "linux.resources.cpu.mems"));
    }
    out
}

/// `memory.swappiness` must be 0..=100 (the kernel's range, checked before any write).
pub(super) fn swappiness(m: &LinuxMemory) -> Result<Option<u64>, CgroupError> {
    match m.swappiness() {
        Some(s) if s > 100 => Err(CgroupError::Invalid {
            field: format!("{MEM}.swappiness"),
            reason: format!("{s} is out of range: valid memory swappiness range is 0-100"),
        }),
        s => Ok(s),
    }
}

/// A hugepage size as the cgroup files spell it (`2MB`, `1GB`), refused when it could escape
/// the directory.
pub(super) fn page_size(i: usize, l: &LinuxHugepageLimit) -> Result<&str, CgroupError> {
    let s = l.page_size().as_str();
    if s.is_empty() || s.contains('/') || s.contains("..") {
        return Err(CgroupError::Invalid {
            field: format!("linux.resources.hugepageLimits[{i}].pageSize"),
            reason: format!("{s:?} is not a page size (e.g. \"2MB\")"),
        });
    }
    Ok(s)
}

/// `update` with `checkBeforeUpdate`: refuse a limit at or below the current usage.
pub(super) fn check_usage(m: &LinuxMemory, usage_file: &Path) -> Result<(), CgroupError> {
    let Some(limit) = m.limit().filter(|&l| l > 0) else {
        return Ok(());
    };
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let usage: i64 = read_trim(usage_file)
        .and_then(|u| u.parse().ok())
        .unwrap_or(0);
    if limit <= usage {
        return Err(CgroupError::Invalid {
            field: format!("{MEM}.limit"),
            reason: format!(
                "rejecting memory limit {limit} below the current usage {usage} \
                 (checkBeforeUpdate; {})",
                usage_file.display()
            ),
        });
    }
    Ok(())
}
