//! ③ The hooks the init runs (`createContainer`, `startContainer`), planned: each converted to
//! C strings and NULL-terminated pointer arrays in the parent, so that the init can fork and
//! `execve` them without allocating (running them is `crate::hooks`).
use std::ffi::CString;

use oci_spec::runtime::Hook;

use crate::spec::{cstr, SpecError};

/// A hook the init runs (createContainer, startContainer), prepared as C strings.
#[derive(Debug)]
pub struct HookPlan {
    /// Executable path.
    pub path: CString,
    /// argv (owns what `argv_ptrs` points into).
    #[allow(dead_code)]
    pub argv: Vec<CString>,
    /// NULL-terminated argv pointers.
    pub argv_ptrs: Vec<*const libc::c_char>,
    /// env (owns what `env_ptrs` points into).
    #[allow(dead_code)]
    pub env: Vec<CString>,
    /// NULL-terminated env pointers.
    pub env_ptrs: Vec<*const libc::c_char>,
    /// The hook has an `env` of its own; without one it gets the container process's (runc).
    pub own_env: bool,
    /// Timeout in milliseconds (-1: none).
    pub timeout_ms: libc::c_int,
}

/// Prepare the hooks of `field` (`hooks.createContainer`) for the init; an entry with a NUL byte
/// is refused naming `field[i]`.
pub fn plan(hooks: Option<&Vec<Hook>>, field: &str) -> Result<Vec<HookPlan>, SpecError> {
    let mut out = Vec::new();
    for (i, h) in hooks.into_iter().flatten().enumerate() {
        let f = format!("{field}[{i}]");
        let path = cstr(h.path().to_string_lossy().into_owned(), &f)?;
        let mut args = h.args().clone().unwrap_or_default();
        if args.is_empty() {
            args.push(h.path().to_string_lossy().into_owned());
        }
        let argv = args
            .into_iter()
            .map(|a| cstr(a, &f))
            .collect::<Result<Vec<_>, _>>()?;
        let own_env = h.env().is_some();
        let env = h
            .env()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|e| cstr(e, &f))
            .collect::<Result<Vec<_>, _>>()?;
        let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        out.push(HookPlan {
            argv_ptrs: ptrs(&argv),
            env_ptrs: ptrs(&env),
            own_env,
            path,
            argv,
            env,
            timeout_ms: h.timeout().filter(|t| *t > 0).map_or(-1, |t| {
                (t.min(i32::MAX as i64 / 1000) * 1000) as libc::c_int
            }),
        });
    }
    Ok(out)
}
