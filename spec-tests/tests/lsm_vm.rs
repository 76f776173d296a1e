//! AppArmor, for real: this host runs no LSM, so a VM boots Debian's kernel with AppArmor on
//! (`lsm=…,apparmor apparmor=1 security=apparmor`), loads two small profiles with Debian's
//! `apparmor_parser` (package `apparmor`, fetched with `apt-get download`), and runs the checks
//! inside, in one boot: a container started with `process.apparmorProfile` runs confined
//! (`/proc/self/attr/current` names the profile in enforce mode, as does the init's from the host)
//! and the profile's deny rules hold while the rest is allowed; `exec` inherits the container's
//! profile, `exec --apparmor` replaces it, and both are enforced; a profile that is not loaded
//! fails `create` (and `exec --apparmor`) naming `process.apparmorProfile` and the profile, and
//! leaves nothing behind; and (CVE-2019-16884) a bind mount over `/proc` with fake attribute files
//! is refused and never receives the profile write (escapes.rs checks the same refusal, and the
//! symlink route of CVE-2023-27561, on any host). Each check prints `CHECK <name> ok|FAIL: <why>` on the serial console.
//!
//! A profile on a host without AppArmor: runc does not check, its write of `exec <profile>` to the
//! exec attribute fails (EINVAL) and the container does not start; sangja refuses it while planning,
//! naming the field (badinput.rs tests that on this host).
//!
//! SELinux (`process.selinuxLabel`, `linux.mountLabel`, the keyring label) is NOT tested here, nor
//! anywhere: it needs a loaded policy, and Debian's `selinux-policy-default` is large and wants a
//! relabelled root filesystem, which this initramfs guest cannot give. Only the planning is
//! unit-tested (the attribute writes, the `context="…"` mount option and which mounts get it).

use std::path::Path;

use serde_json::json;
use spec_tests::config::set_pointer;
use spec_tests::vm::{self, Initramfs};

/// The kernel parameters that turn AppArmor on (Debian's kernel has it built in).
const CMDLINE: &str = "lsm=landlock,lockdown,yama,apparmor apparmor=1 security=apparmor";

/// Two profiles: everything allowed but writing `/tmp/denied` and reading `/etc/secret`; and one
/// that only denies reading `/etc/other`.
const PROFILES: &str = r#"
profile sangja-test flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
  deny /tmp/denied w,
  deny /etc/secret r,
}

profile sangja-other flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  deny /etc/other r,
}
"#;

/// Mount securityfs (AppArmor's interface) before the checks.
const SETUP: &str = "mount -t securityfs securityfs /sys/kernel/security\n";

/// The checks (busybox sh).
const TEST: &str = r#"
CG=/sys/fs/cgroup
eq apparmor-enabled /sys/module/apparmor/parameters/enabled Y
if /sbin/apparmor_parser -r -K /profiles.aa >/tmp/aa.out 2>&1; then ok profiles-loaded; else fail profiles-loaded "$(cat /tmp/aa.out)"; fi
has profile-listed /sys/kernel/security/apparmor/profiles "^sangja-test (enforce)"
mkdir -p /rootfs/etc
echo secret > /rootfs/etc/secret
echo other > /rootfs/etc/other

# 1. A confined container: its label, its deny rules, the rest allowed.
if $S create -b /bundles/probe c1 >/tmp/c1.out 2>/tmp/c1.err; then ok create; else fail create "$(cat /tmp/c1.err)"; fi
$S start c1
i=0; while [ "$(status c1)" != stopped ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
has current /tmp/c1.out "^current=sangja-test (enforce)$"
has denied-write /tmp/c1.out "^denied=[1-9]"
has denied-read /tmp/c1.out "^secret=[1-9]"
has allowed-write /tmp/c1.out "^allowed=0$"
has allowed-read /tmp/c1.out "^other=0 other$"
$S delete c1

# 2. exec: inherits the profile, or takes --apparmor's.
if $S create -b /bundles/sleep c2 >/tmp/c2.out 2>/tmp/c2.err && $S start c2; then ok create-running; else fail create-running "$(cat /tmp/c2.err)"; fi
pid=$($S state c2 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
eq init-label /proc/$pid/attr/current "sangja-test (enforce)"
$S exec c2 cat /proc/self/attr/current >/tmp/e1 2>&1
eq exec-inherits /tmp/e1 "sangja-test (enforce)"
$S exec c2 sh -c 'echo x > /tmp/denied; echo denied=$?' >/tmp/e2 2>&1
has exec-denied-write /tmp/e2 "^denied=[1-9]"
$S exec --apparmor sangja-other c2 sh -c 'cat /proc/self/attr/current; cat /etc/secret; cat /etc/other; echo other=$?' >/tmp/e3 2>&1
has exec-apparmor-flag /tmp/e3 "^sangja-other (enforce)$"
has exec-apparmor-flag-allows /tmp/e3 "^secret$"
has exec-apparmor-flag-denies /tmp/e3 "^other=[1-9]"
if $S exec --apparmor sangja-nope c2 true >/tmp/e4 2>&1; then
  fail exec-not-loaded "exec succeeded"
else
  has exec-not-loaded /tmp/e4 'process.apparmorProfile .*sangja-nope'
fi
$S kill c2 KILL
i=0; while [ "$(status c2)" != stopped ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
$S delete c2

# 3. A profile that is not loaded: create fails naming the field and the profile, nothing left.
if $S create -b /bundles/nope c3 >/tmp/c3.out 2>/tmp/c3.err; then
  fail not-loaded "create succeeded"
else
  has not-loaded-names-field /tmp/c3.err 'process.apparmorProfile .*sangja-nope'
  has not-loaded-says-why /tmp/c3.err "no such profile is loaded"
fi
[ ! -e /run/sangja/c3 ] && [ ! -e $CG/sangja/c3 ] && ok not-loaded-leaves-nothing || fail not-loaded-leaves-nothing "$(ls /run/sangja $CG/sangja)"
# 4. CVE-2019-16884: a volume over /proc (here a bind of a directory with fake attr files) is
#    refused, as runc refuses it, and the profile write never lands in the fake files.
mkdir -p /fakeproc/self/attr/apparmor
: > /fakeproc/self/attr/apparmor/exec
: > /fakeproc/self/attr/exec
if $S run -b /bundles/fakeproc c4 >/tmp/c4.out 2>/tmp/c4.err; then
  fail cve-2019-16884-refused "ran: $(cat /tmp/c4.out)"
else
  has cve-2019-16884-refused /tmp/c4.err 'mounts\[[0-9]*\].destination: .*/proc must be procfs'
fi
if [ -s /fakeproc/self/attr/apparmor/exec ] || [ -s /fakeproc/self/attr/exec ]; then
  fail cve-2019-16884-fake-untouched "$(cat /fakeproc/self/attr/apparmor/exec /fakeproc/self/attr/exec)"
else
  ok cve-2019-16884-fake-untouched
fi
$S delete --force c4 2>/dev/null
left=$(find $CG/sangja -mindepth 1 -type d 2>/dev/null; ls /run/sangja)
[ -z "$left" ] && ok nothing-left || fail nothing-left "$left"
"#;

/// The checks `TEST` must report.
const CHECKS: &[&str] = &[
    "apparmor-enabled",
    "profiles-loaded",
    "profile-listed",
    "create",
    "current",
    "denied-write",
    "denied-read",
    "allowed-write",
    "allowed-read",
    "create-running",
    "init-label",
    "exec-inherits",
    "exec-denied-write",
    "exec-apparmor-flag",
    "exec-apparmor-flag-allows",
    "exec-apparmor-flag-denies",
    "exec-not-loaded",
    "not-loaded-names-field",
    "not-loaded-says-why",
    "not-loaded-leaves-nothing",
    "cve-2019-16884-refused",
    "cve-2019-16884-fake-untouched",
    "nothing-left",
];

fn bundle(i: &mut Initramfs, name: &str, profile: &str, args: &[&str]) {
    bundle_with(i, name, profile, args, &[]);
}

/// [`bundle`] with `extra` mounts after the config's own.
fn bundle_with(
    i: &mut Initramfs,
    name: &str,
    profile: &str,
    args: &[&str],
    extra: &[serde_json::Value],
) {
    let mut c = vm::guest_config(args);
    set_pointer(&mut c, "/process/apparmorProfile", json!(profile));
    // A writable /tmp for the deny rule.
    let mut mounts = c["mounts"].as_array().cloned().unwrap_or_default();
    mounts.push(
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}),
    );
    mounts.extend_from_slice(extra);
    set_pointer(&mut c, "/mounts", json!(mounts));
    i.file(
        &format!("/payload/bundles/{name}/config.json"),
        &serde_json::to_vec_pretty(&c).expect("config"),
        0o644,
    );
}

fn initramfs(sangja: &Path) -> Initramfs {
    let mut i = vm::guest(sangja, "LSM", SETUP, TEST);
    i.add_binary("/payload", "/sbin/apparmor_parser", &vm::apparmor_parser());
    i.file("/payload/profiles.aa", PROFILES.as_bytes(), 0o644);
    let probe = [
        "sh",
        "-c",
        "echo current=$(cat /proc/self/attr/current); \
         echo x > /tmp/denied; echo denied=$?; \
         echo x > /tmp/allowed; echo allowed=$?; \
         cat /etc/secret; echo secret=$?; \
         o=$(cat /etc/other); echo \"other=$? $o\"",
    ];
    bundle(&mut i, "probe", "sangja-test", &probe);
    bundle(&mut i, "sleep", "sangja-test", &["sleep", "100"]);
    bundle(&mut i, "nope", "sangja-nope", &["true"]);
    // A bind over /proc (the container's volume, in the attack) and the real procfs elsewhere.
    bundle_with(
        &mut i,
        "fakeproc",
        "sangja-test",
        &[
            "sh",
            "-c",
            "echo current=$(cat /realproc/self/attr/current)",
        ],
        &[
            json!({"destination": "/proc", "type": "bind", "source": "/fakeproc",
                "options": ["rbind", "rw"]}),
            json!({"destination": "/realproc", "type": "proc", "source": "proc"}),
        ],
    );
    i
}

#[test]
fn apparmor_in_a_vm() {
    let sangja = spec_tests::sangja_bin(env!("CARGO_BIN_EXE_sangja"));
    let report = vm::run_checks(initramfs(&sangja), "LSM", CMDLINE, CHECKS);
    println!("{report}");
}
