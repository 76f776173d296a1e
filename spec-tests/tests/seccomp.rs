//! `linux.seccomp`: profiles compiled by sangja's own BPF compiler (no libseccomp), checked by what
//! syscalls return inside the container, on x86_64, x32 and i386 (`int $0x80`), and against runc
//! (libseccomp 2.5) running the same profiles.

use serde_json::{json, Value};
use spec_tests::seccomp::{docker_default, mount_probe, podman_default};
use spec_tests::{harness, runc_harness, Bundle, Harness, Output};

const EPERM: i32 = 1;
const ENOSYS: i32 = 38;
/// `run`'s exit code for a container killed by SIGSYS.
const SIGSYS_EXIT: i32 = 128 + 31;

const X86_ARCHES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/// A bundle with `profile` as `linux.seccomp`, a writable tmpfs on /tmp and the probe at
/// /mnt/a/probe.
fn bundle(h: &Harness, profile: Value) -> Bundle {
    let mut b = h.bundle();
    b.set("/linux/seccomp", profile);
    b.add_mount(
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "mode=1777"]}),
    );
    mount_probe(&mut b);
    b
}

/// Runs the probe with `specs` (see `spec_tests::seccomp`); returns the run's output.
#[track_caller]
fn probe(h: &Harness, b: &mut Bundle, specs: &[&str]) -> Output {
    let mut args = vec!["/mnt/a/probe"];
    args.extend_from_slice(specs);
    b.args(&args);
    h.run(b)
}

/// The probe's result for one spec: `Some(0)` for success, `Some(errno)` for a failure, `None` if
/// the probe never got to print it (killed).
fn result(out: &Output, spec: &str) -> Option<i32> {
    out.stdout.lines().find_map(|l| {
        let (s, r) = l.rsplit_once(' ')?;
        (s == spec).then(|| {
            if r == "ok" {
                0
            } else {
                r.trim_start_matches('-').parse().unwrap_or(-1)
            }
        })
    })
}

#[track_caller]
fn expect(out: &Output, want: &[(&str, i32)]) {
    for (spec, errno) in want {
        assert_eq!(
            result(out, spec),
            Some(*errno),
            "{spec}: expected {}\n{out}",
            if *errno == 0 {
                "success".to_string()
            } else {
                format!("errno {errno}")
            }
        );
    }
}

fn deny(names: &[&str], action: &str, extra: Value) -> Value {
    let mut rule = json!({"names": names, "action": action});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            rule[k] = v;
        }
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": X86_ARCHES, "syscalls": [rule]})
}

#[test]
fn errno_eperm_denies_mkdir_only() {
    let h = harness!();
    let mut b = bundle(&h, deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", json!({})));
    let out = h.sh(
        &mut b,
        "mkdir /tmp/x 2>&1; echo rc=$?; touch /tmp/y && echo touched; ls /tmp; id -u",
    );
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
    assert!(out.contains("touched"), "{out}");
    // `ls /tmp` lists only y.
    assert!(out.contains("touched\ny\n0\n"), "{out}");
}

#[test]
fn errno_ret_values() {
    let h = harness!();
    let mut b = bundle(
        &h,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": X86_ARCHES, "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["acct"], "action": "SCMP_ACT_ERRNO"},
        ]}),
    );
    let out = h.sh(&mut b, "mkdir /tmp/x 2>&1; rmdir /tmp 2>&1; true");
    assert!(out.contains("Function not implemented"), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    let out = probe(
        &h,
        &mut b,
        &["x64:83:@/tmp/a:0", "x64:84:@/tmp", "x64:163:0", "x64:39"],
    );
    out.ok();
    expect(
        &out,
        &[
            ("x64:83:@/tmp/a:0", ENOSYS),
            ("x64:84:@/tmp", 13),
            ("x64:163:0", EPERM),
            ("x64:39", 0),
        ],
    );
}

#[test]
fn kill_actions_end_the_process_with_sigsys() {
    let h = harness!();
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        let mut b = bundle(&h, deny(&["mkdir"], action, json!({})));
        let out = probe(&h, &mut b, &["x64:39", "x64:83:@/tmp/x:0", "x64:110"]);
        assert_eq!(out.code, SIGSYS_EXIT, "{action}: {out}");
        expect(&out, &[("x64:39", 0)]);
        assert_eq!(result(&out, "x64:110"), None, "{action}: {out}");
    }
}

#[test]
fn argument_conditions() {
    let h = harness!();
    let mut b = bundle(
        &h,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": X86_ARCHES, "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]},
            // socket(domain & 0xff == AF_INET6) denied with EAFNOSUPPORT.
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
             "args": [{"index": 0, "value": 255, "valueTwo": 10, "op": "SCMP_CMP_MASKED_EQ"}]},
            // umask(m) denied for m > 0o777 and (AND) ... only when arg1 < 5 (arg1 is junk).
            {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
             "args": [{"index": 0, "value": 511, "op": "SCMP_CMP_GT"},
                      {"index": 1, "value": 5, "op": "SCMP_CMP_LT"}]},
        ]}),
    );
    let specs = [
        "x64:135:0xffffffff",
        "x64:135:0",
        "x64:41:10:1:0",
        "x64:41:2:1:0",
        "x64:41:0x10a:1:0",
        "x64:95:0x1ff:0",
        "x64:95:0x200:0",
        "x64:95:0x200:7",
        "i386:136:0xffffffff",
        "i386:359:10:1:0",
        "x32:135:0xffffffff",
    ];
    let out = probe(&h, &mut b, &specs);
    out.ok();
    expect(
        &out,
        &[
            ("x64:135:0xffffffff", EPERM),
            ("x64:135:0", 0),
            ("x64:41:10:1:0", 97),
            ("x64:41:2:1:0", 0),
            ("x64:41:0x10a:1:0", 97),
            ("x64:95:0x1ff:0", 0),
            ("x64:95:0x200:0", 22),
            ("x64:95:0x200:7", 0),
            ("i386:136:0xffffffff", EPERM),
            ("i386:359:10:1:0", 97),
        ],
    );
}

/// The syscalls a busybox shell and the probe need, plus what runc's Go init needs after loading
/// the filter (runc loads it before waiting for `start`).
const BASE_ALLOW: &[&str] = &[
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clone",
    "close",
    "close_range",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "exit",
    "exit_group",
    "fchdir",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpid",
    "getppid",
    "getrandom",
    "gettid",
    "getuid",
    "ioctl",
    "lseek",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "pipe2",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setresgid",
    "setresuid",
    "setuid",
    "sigaltstack",
    "stat",
    "statx",
    "tgkill",
    "uname",
    "wait4",
    "waitid",
    "write",
    "writev",
    "getpgrp",
    "setpgid",
    "faccessat2",
    "access",
    "umask",
    "poll",
    "ppoll",
    "fsync",
    "kill",
    "sysinfo",
    "mknodat",
];

#[test]
fn default_errno_with_an_allow_list() {
    let h = harness!();
    let mut b = bundle(
        &h,
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": X86_ARCHES,
               "syscalls": [{"names": BASE_ALLOW, "action": "SCMP_ACT_ALLOW"}]}),
    );
    let out = h.sh(&mut b, "echo hello; ls /mnt/a; mkdir /tmp/d 2>&1; true");
    assert!(out.contains("hello") && out.contains("probe"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    let out = probe(
        &h,
        &mut b,
        &[
            "x64:39",
            "x64:83:@/tmp/x:0",
            "x64:163:0",
            "x64:1000",
            "x64:0x7fffffff",
        ],
    );
    out.ok();
    // Unlisted: the default errno; above every listed syscall: ENOSYS (as runc's stub).
    expect(
        &out,
        &[
            ("x64:39", 0),
            ("x64:83:@/tmp/x:0", EPERM),
            ("x64:163:0", EPERM),
            ("x64:1000", ENOSYS),
            ("x64:0x7fffffff", ENOSYS),
        ],
    );
}

#[test]
fn i386_and_x32_syscalls() {
    let h = harness!();
    // Listed: the i386 and x32 numbers of the names are matched.
    let mut b = bundle(
        &h,
        deny(
            &["mkdir", "getppid"],
            "SCMP_ACT_ERRNO",
            json!({"errnoRet": 5}),
        ),
    );
    let out = probe(
        &h,
        &mut b,
        &[
            "i386:20",
            "i386:39:@/tmp/x:0",
            "i386:64",
            "x32:39",
            "x32:110",
            "x64:110",
        ],
    );
    out.ok();
    expect(
        &out,
        &[
            ("i386:20", 0),
            ("i386:39:@/tmp/x:0", 5),
            ("i386:64", 5),
            ("x32:110", 5),
            ("x64:110", 5),
        ],
    );
    // x32 getpid passes the filter; the kernel then runs it or has no x32 (ENOSYS).
    assert!(matches!(result(&out, "x32:39"), Some(0 | ENOSYS)), "{out}");
    // Only x86_64 listed: an i386 syscall is from a bad architecture and kills (libseccomp's
    // default), whatever the rules say.
    let mut b = bundle(
        &h,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let out = probe(&h, &mut b, &["x64:39", "i386:20", "x64:110"]);
    assert_eq!(out.code, SIGSYS_EXIT, "{out}");
    expect(&out, &[("x64:39", 0)]);
}

#[test]
fn the_filter_survives_without_no_new_privileges() {
    // Without noNewPrivileges and without CAP_SYS_ADMIN, the filter is loaded before the
    // capabilities are dropped (loading needs one or the other).
    let h = harness!();
    let mut b = bundle(&h, deny(&["mkdir"], "SCMP_ACT_ERRNO", json!({})));
    b.set("/process/noNewPrivileges", json!(false));
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let out = h.sh(
        &mut b,
        "mkdir /tmp/x 2>&1; grep -E '^(Seccomp|NoNewPrivs|CapEff)' /proc/self/status",
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
}

/// An allow-list profile without `close_range` (older Docker profiles, generated ones) loaded before the
/// identity switch (no noNewPrivileges, uid 1000): runc runs it, and so must sangja: nothing the init does
/// after loading the filter may need a syscall such a profile denies. For `exec` too.
#[test]
fn a_profile_without_close_range_works_as_with_runc() {
    let h = harness!();
    let mut allow: Vec<&str> = BASE_ALLOW
        .iter()
        .copied()
        .filter(|s| *s != "close_range")
        .collect();
    allow.extend(["nanosleep", "clock_nanosleep"]);
    let mut b = bundle(
        &h,
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": X86_ARCHES,
               "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]}),
    );
    b.set("/process/noNewPrivileges", json!(false));
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let out = h.sh(
        &mut b,
        "echo started; grep -E '^Seccomp:' /proc/self/status",
    );
    assert_eq!(out, "started\nSeccomp:\t2\n");
    b.args(&["sleep", "100"]);
    let c = h.create_and_start(&b);
    let out = h.cmd(&["exec", &c.id, "sh", "-c", "echo exec-started"]);
    out.ok();
    assert_eq!(out.stdout, "exec-started\n");
}

#[test]
fn flags_are_applied() {
    let h = harness!();
    let mut p = deny(&["mkdir"], "SCMP_ACT_ERRNO", json!({}));
    p["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
    let mut b = bundle(&h, p);
    let out = h.sh(
        &mut b,
        "mkdir /tmp/x 2>&1; grep -E '^Seccomp' /proc/self/status",
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("Seccomp_filters:\t1"), "{out}");
}

#[test]
fn exec_gets_the_same_filter() {
    let h = harness!();
    let mut b = bundle(
        &h,
        deny(&["mkdir"], "SCMP_ACT_ERRNO", json!({"errnoRet": 38})),
    );
    b.args(&["sleep", "30"]);
    let c = h.create_and_start(&b);
    let out = h.cmd(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "mkdir /tmp/x 2>&1; grep ^Seccomp: /proc/self/status",
    ]);
    out.ok();
    assert!(out.stdout.contains("Function not implemented"), "{out}");
    assert!(out.stdout.contains("Seccomp:\t2"), "{out}");
    h.cmd(&["kill", &c.id, "KILL"]);
}

#[test]
fn docker_default_profile_runs_a_busybox_shell() {
    let h = harness!();
    let mut b = bundle(&h, docker_default());
    let out = h.sh(
        &mut b,
        "echo hi > /tmp/f && cat /tmp/f; ls /bin | wc -l; ps -o pid,comm | head -2; date +%Y >/dev/null \
         && echo date-ok; id; wc -l < /etc/passwd; \
         mount -t tmpfs none /mnt/b 2>&1; unshare -n true 2>&1; echo done",
    );
    assert!(out.starts_with("hi\n"), "{out}");
    assert!(
        out.contains("date-ok") && out.contains("uid=0(root)"),
        "{out}"
    );
    assert!(out.contains("PID") && out.contains("done"), "{out}");
    // Blocked by the profile (no CAP_SYS_ADMIN): EPERM, as under Docker (busybox's mount words
    // EPERM its own way).
    assert!(out.contains("mount: permission denied"), "{out}");
    assert!(
        out.contains("unshare(0x40000000): Operation not permitted"),
        "{out}"
    );
}

#[test]
fn bad_profiles_fail_create_with_the_json_path() {
    let h = harness!();
    for (profile, path) in [
        (
            deny(
                &["mkdir"],
                "SCMP_ACT_ERRNO",
                json!({"args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
            ),
            "linux.seccomp.syscalls[0].args[0].index",
        ),
        (
            deny(&["mkdir"], "SCMP_ACT_FROB", json!({})),
            "linux.seccomp.syscalls[0].action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}),
            "linux.seccomp.architectures[0]",
        ),
        (
            deny(
                &["mkdir"],
                "SCMP_ACT_ERRNO",
                json!({"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}),
            ),
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            deny(&["mkdir", ""], "SCMP_ACT_ERRNO", json!({})),
            "linux.seccomp.syscalls[0].names[1]",
        ),
        (
            deny(&["mkdir"], "SCMP_ACT_NOTIFY", json!({})),
            "linux.seccomp.listenerPath",
        ),
    ] {
        let b = bundle(&h, profile);
        let id = h.id();
        let (out, _) = h.try_create(&b, &id, &[]);
        out.failed();
        assert!(out.stderr.contains(path), "{path}: {out}");
        spec_tests::assert_nothing_left(&h, &id, &b);
    }
}

/// Runs the probe with the same bundle under both runtimes and asserts identical exit codes and
/// per-syscall results.
#[track_caller]
fn same_results(s: &Harness, r: &Harness, b: &mut Bundle, specs: &[&str]) -> Output {
    let ours = probe(s, b, specs);
    let theirs = probe(r, b, specs);
    assert_eq!(
        (ours.code, ours.stdout.as_str()),
        (theirs.code, theirs.stdout.as_str()),
        "sangja (left) and runc (right) disagree\nsangja: {ours}\nrunc: {theirs}"
    );
    ours
}

/// Syscalls probed in the differential tests: plain, with arguments, blocked by the engines'
/// profiles, above the profiles' tables, and on the three x86 ABIs.
const DIFF_SPECS: &[&str] = &[
    "x64:39",
    "x64:110",
    "x64:83:@/tmp/d:0x1ed",
    "x64:84:@/tmp/d",
    "x64:135:0",
    "x64:135:8",
    "x64:135:0xffffffff",
    "x64:135:1",
    "x64:41:2:1:0",
    "x64:41:40:1:0",
    "x64:41:16:3:9",
    "x64:165:@none:@/mnt/b:@tmpfs:0:0",
    "x64:272:0x20000000",
    "x64:163:0",
    "x64:250:0:0",
    "x64:103:0:0:0",
    "x64:169:0:0:0:0",
    "x64:425:1:0",
    "x64:435:0:0",
    "x64:440:0:0",
    "x64:310:1:0:1:0:1:0",
    "x64:320:0:0:0",
    "x64:500",
    "x64:0x3fffffff",
    "i386:20",
    "i386:39:@/tmp/e:0x1ed",
    "i386:40:@/tmp/e",
    "i386:136:0xffffffff",
    "i386:136:3",
    "i386:359:2:1:0",
    "i386:359:40:1:0",
    "i386:102:1:0",
    "i386:102:3:0",
    "i386:117:1:0:0:0",
    "i386:21:0:0:0:0:0",
    "i386:51:0",
    "i386:500",
    "x32:39",
    "x32:83:@/tmp/f:0x1ed",
    "x32:515:0:0:0",
    "x32:19:0:0:0",
    "x32:1000",
];

#[test]
fn differential_deny_lists_and_conditions() {
    let s = harness!();
    let r = runc_harness!();
    let profiles = [
        deny(
            &["mkdir", "mkdirat"],
            "SCMP_ACT_ERRNO",
            json!({"errnoRet": 38}),
        ),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": X86_ARCHES, "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_LE"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4,
             "args": [{"index": 0, "value": 0xffff_fff0u64, "op": "SCMP_CMP_GE"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"},
                      {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30,
             "args": [{"index": 1, "value": 0x1c0, "valueTwo": 0x1c0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 31,
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_GT"}]},
            {"names": ["acct"], "action": "SCMP_ACT_ERRNO", "errnoRet": 32,
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_LT"}]},
        ]}),
        // Only x86_64 and x32: i386 syscalls are killed.
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
               "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}),
    ];
    for p in profiles {
        let mut b = bundle(&s, p.clone());
        // i386 specs last: a profile without SCMP_ARCH_X86 kills the probe there.
        let mut specs: Vec<&str> = DIFF_SPECS
            .iter()
            .copied()
            .filter(|x| !x.starts_with("i386"))
            .collect();
        specs.extend(DIFF_SPECS.iter().copied().filter(|x| x.starts_with("i386")));
        let out = same_results(&s, &r, &mut b, &specs);
        assert!(out.stdout.lines().count() >= 20, "{p}\n{out}");
    }
}

#[test]
fn differential_default_errno_with_allow_list() {
    let s = harness!();
    let r = runc_harness!();
    let mut b = bundle(
        &s,
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13, "architectures": X86_ARCHES,
               "syscalls": [{"names": BASE_ALLOW, "action": "SCMP_ACT_ALLOW"},
                            {"names": ["mkdir", "socketcall", "personality"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    same_results(&s, &r, &mut b, DIFF_SPECS);
}

#[test]
fn differential_docker_default_profile() {
    let s = harness!();
    let r = runc_harness!();
    let mut b = bundle(&s, docker_default());
    let out = same_results(&s, &r, &mut b, DIFF_SPECS);
    // What Docker's profile is known for: mount, unshare, keyctl and most personalities refused;
    // clone3 is ENOSYS so that libcs fall back to clone.
    expect(
        &out,
        &[
            ("x64:165:@none:@/mnt/b:@tmpfs:0:0", EPERM),
            ("x64:272:0x20000000", EPERM),
            ("x64:250:0:0", EPERM),
            ("x64:135:0xffffffff", 0),
            ("x64:135:1", EPERM),
            ("x64:435:0:0", ENOSYS),
            ("i386:20", 0),
            ("x64:500", ENOSYS),
        ],
    );
}

#[test]
fn differential_podman_default_profile() {
    let s = harness!();
    let r = runc_harness!();
    let mut b = bundle(&s, podman_default());
    let out = same_results(&s, &r, &mut b, DIFF_SPECS);
    expect(
        &out,
        &[("x64:39", 0), ("x64:165:@none:@/mnt/b:@tmpfs:0:0", EPERM)],
    );
}

/// Both default profiles compile to one filter for the three x86 ABIs that fits the kernel's limit
/// with room to spare. (How long the compile takes is measured by `sangja-bench`, not here.)
#[test]
fn default_profiles_compile_to_one_short_filter() {
    for (name, profile) in [("Docker", docker_default()), ("podman", podman_default())] {
        let profile: sangja::seccomp::LinuxSeccomp =
            serde_json::from_value(profile).expect("the profile is a valid linux.seccomp");
        let p = sangja::seccomp::compile(&profile).expect("compile");
        let again = sangja::seccomp::compile(&profile).expect("compile");
        assert_eq!(p.len(), again.len(), "{name}: the compile is deterministic");
        assert!(
            p.len() > 100 && p.len() < 1000,
            "{name}: {} instructions",
            p.len()
        );
    }
}

/// A seccomp agent for the notify tests: accepts connections on `path`, takes the container
/// process state and the listener from each, and answers every notification: `mkdir` succeeds
/// without doing anything, anything else fails with EACCES. Returns the states it received and
/// the syscall numbers it answered, once `done` is set and the listeners have gone quiet.
struct Agent {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<Value>, Vec<i32>)>>,
}

impl Agent {
    fn start(path: &std::path::Path) -> Agent {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let server = std::os::unix::net::UnixListener::bind(path).expect("bind agent socket");
        server.set_nonblocking(true).expect("nonblocking");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let mut states = Vec::new();
            let mut answered = Vec::new();
            let mut listeners: Vec<OwnedFd> = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if let Ok((conn, _)) = server.accept() {
                    conn.set_nonblocking(false).expect("blocking");
                    let (state, fd) = spec_tests::seccomp::recv_state(conn.as_raw_fd());
                    states.push(state);
                    // SAFETY: the fd came with SCM_RIGHTS: the kernel installed it for us alone.
                    listeners.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
                let mut busy = false;
                for l in &listeners {
                    let mut pfd = libc::pollfd {
                        fd: l.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
                    if n != 1 || pfd.revents & libc::POLLIN == 0 {
                        continue;
                    }
                    busy = true;
                    // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
                    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
                    // SAFETY: RECV fills `req`, which has the kernel's layout.
                    let r = unsafe {
                        libc::ioctl(l.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req)
                    };
                    if r != 0 {
                        continue;
                    }
                    answered.push(req.data.nr);
                    let mut resp = libc::seccomp_notif_resp {
                        id: req.id,
                        val: 0,
                        error: 0,
                        flags: 0,
                    };
                    if req.data.nr != 83 {
                        resp.error = -libc::EACCES;
                    }
                    // SAFETY: SEND reads `resp`, which has the kernel's layout.
                    unsafe { libc::ioctl(l.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
                }
                if !busy {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
            (states, answered)
        });
        Agent {
            done,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (Vec<Value>, Vec<i32>) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread
            .take()
            .expect("agent thread")
            .join()
            .expect("agent thread panicked")
    }
}

fn notify_profile(agent: &std::path::Path) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": X86_ARCHES,
           "listenerPath": agent.to_str().expect("UTF-8"), "listenerMetadata": "probe=1",
           "syscalls": [{"names": ["mkdir", "rmdir"], "action": "SCMP_ACT_NOTIFY"}]})
}

#[test]
fn notify_hands_the_listener_to_the_agent() {
    let h = harness!();
    let path = h.tempdir("agent").join("agent.sock");
    let agent = Agent::start(&path);
    let mut b = bundle(&h, notify_profile(&path));
    b.args(&[
        "sh",
        "-c",
        "mkdir /tmp/x && echo mkdir-ok; rmdir /tmp 2>&1; ls /tmp | wc -l; sleep 30",
    ]);
    let c = h.create(&b);
    let pid = h.pid(&c.id);
    h.cmd(&["start", &c.id]).ok();
    // exec gets a filter (and a listener) of its own.
    let out = h.cmd(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "mkdir /tmp/y && echo exec-mkdir-ok",
    ]);
    out.ok();
    assert!(out.stdout.contains("exec-mkdir-ok"), "{out}");
    // `start` returns once the init is released; let its script get through its notifications.
    spec_tests::host::wait_until(spec_tests::secs(10), || c.output().contains("0\n"));
    h.cmd(&["kill", &c.id, "KILL"]);
    let (states, answered) = agent.finish();
    // The agent faked mkdir (nothing created) and refused rmdir.
    let shown = c.output();
    assert!(shown.starts_with("mkdir-ok\n"), "{shown}");
    assert!(shown.contains("0\n"), "{shown}");
    let errors = std::fs::read_to_string(&c.stdout).unwrap_or_default();
    assert!(errors.contains("Permission denied"), "{errors}");
    assert!(
        answered.contains(&83) && answered.contains(&84),
        "{answered:?}"
    );
    assert_eq!(states.len(), 2, "{states:?}");
    let s = &states[0];
    assert_eq!(s["fds"], json!(["seccompFd"]), "{s}");
    assert_eq!(s["metadata"], "probe=1", "{s}");
    assert_eq!(s["pid"], pid, "{s}");
    assert_eq!(s["state"]["pid"], pid, "{s}");
    assert_eq!(s["state"]["id"], c.id.as_str(), "{s}");
    assert_eq!(s["state"]["status"], "creating", "{s}");
    assert_eq!(s["state"]["bundle"], b.dir_str(), "{s}");
    assert_eq!(states[1]["state"]["status"], "running", "{}", states[1]);
    assert_eq!(states[1]["state"]["id"], c.id.as_str());
}

#[test]
fn notify_without_an_agent_fails_create() {
    let h = harness!();
    let path = h.tempdir("agent").join("nobody.sock");
    let b = bundle(&h, notify_profile(&path));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.failed();
    assert!(out.stderr.contains("listenerPath"), "{out}");
    spec_tests::assert_nothing_left(&h, &id, &b);
}

#[test]
fn differential_notify() {
    let s = harness!();
    let r = runc_harness!();
    let mut outs = Vec::new();
    for h in [&s, &r] {
        let path = h.tempdir("agent").join("agent.sock");
        let agent = Agent::start(&path);
        let mut b = bundle(h, notify_profile(&path));
        let out = h.sh(
            &mut b,
            "mkdir /tmp/x && echo mkdir-ok; rmdir /tmp 2>&1; ls /tmp | wc -l",
        );
        let (states, _) = agent.finish();
        assert_eq!(states.len(), 1, "{states:?}");
        let st = &states[0];
        outs.push((
            out,
            st["fds"].clone(),
            st["metadata"].clone(),
            st["state"]["status"].clone(),
        ));
    }
    assert_eq!(outs[0], outs[1], "sangja (left) and runc (right)");
}
