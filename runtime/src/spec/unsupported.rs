//! Fields sangja does not apply: refused naming the field, never silently dropped (a config that
//! asks for a real-time scheduler and gets neither runs with less
//! isolation or a different behaviour than its author wrote). Fields runtime-spec defines for
//! Windows only are accepted with a warning, as runc accepts them.
use oci_spec::runtime::{Linux, Process};

use super::SpecError;

/// A field sangja cannot apply yet.
fn not_yet(field: &str) -> SpecError {
    SpecError::field(
        field,
        "is not supported by sangja yet: refusing rather than ignoring it",
    )
}

/// The first field of `fields` that is set, refused.
fn refuse_set(fields: &[(bool, &str)]) -> Result<(), SpecError> {
    match fields.iter().find(|(set, _)| *set) {
        Some((_, field)) => Err(not_yet(field)),
        None => Ok(()),
    }
}

/// `process` (config.json's or an exec's).
pub(super) fn process(p: &Process) -> Result<(), SpecError> {
    refuse_set(&[
        (p.scheduler().is_some(), "process.scheduler"),
        (p.io_priority().is_some(), "process.ioPriority"),
        (p.exec_cpu_affinity().is_some(), "process.execCPUAffinity"),
    ])?;
    if p.command_line().is_some() {
        log::warn!("process.commandLine: is a Windows field; ignored on Linux (process.args runs)");
    }
    if p.user().username().is_some() {
        log::warn!(
            "process.user.username: is a Windows field; ignored on Linux (uid and gid apply)"
        );
    }
    Ok(())
}

/// `linux`: personality, memory policy, network devices,
/// Intel RDT.
pub(super) fn linux(l: &Linux) -> Result<(), SpecError> {
    if l.intel_rdt().is_some() {
        return Err(SpecError::field(
            "linux.intelRdt",
            "Intel RDT (resctrl) is not supported by sangja: refusing rather than ignoring it",
        ));
    }
    refuse_set(&[
        (l.personality().is_some(), "linux.personality"),
        (l.memory_policy().is_some(), "linux.memoryPolicy"),
        (l.net_devices().is_some(), "linux.netDevices"),
    ])
}
