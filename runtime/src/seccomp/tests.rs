//! Compiler tests: compile profiles, run the programs in the BPF interpreter ([`bpf::run`]) on
//! crafted `seccomp_data` and check the verdicts.
use oci_spec::runtime::LinuxSeccomp;

use super::arch::{Abi, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::bpf;
use super::ret::*;
use super::*;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("profile JSON: {e}\n{json}"))
}

fn prog(json: &str) -> Program {
    compile(&profile(json)).unwrap_or_else(|e| panic!("compile: {e}\n{json}"))
}

fn err(json: &str) -> String {
    match compile(&profile(json)) {
        Ok(p) => panic!("expected an error, compiled ({} insns)\n{json}", p.len()),
        Err(e) => e.to_string(),
    }
}

/// Verdict for a syscall by name on an ABI (x32 numbers get their bit from the table).
fn v(p: &Program, abi: Abi, name: &str, args: [u64; 6]) -> u32 {
    let nr = abi
        .resolve(name)
        .unwrap_or_else(|| panic!("{name} on {abi:?}"));
    bpf::run(p.instructions(), nr, abi.audit_arch(), args)
}

fn vn(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    bpf::run(p.instructions(), nr, arch, args)
}

const A0: [u64; 6] = [0; 6];
const ALL_X86: &str = r#""architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"]"#;

#[test]
fn deny_one_syscall_on_every_abi() {
    let p = prog(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW",{ALL_X86},
            "syscalls":[{{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}}]}}"#
    ));
    for abi in [Abi::X86_64, Abi::X86, Abi::X32] {
        assert_eq!(v(&p, abi, "mkdir", A0), ERRNO | 1, "{abi:?}");
        assert_eq!(v(&p, abi, "mkdirat", A0), ERRNO | 1, "{abi:?}");
        assert_eq!(v(&p, abi, "getpid", A0), ALLOW, "{abi:?}");
        assert_eq!(v(&p, abi, "rmdir", A0), ALLOW, "{abi:?}");
    }
    // Unknown architecture: killed, as libseccomp's bad-arch action.
    assert_eq!(vn(&p, 0xc000_00b7, 34, A0), KILL_THREAD);
}

#[test]
fn unlisted_abis_are_bad_architectures() {
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    );
    assert_eq!(v(&p, Abi::X86_64, "mkdir", A0), ERRNO | 38);
    assert_eq!(v(&p, Abi::X86, "getpid", A0), KILL_THREAD);
    assert_eq!(v(&p, Abi::X32, "getpid", A0), KILL_THREAD);
    // Foreign architectures are accepted and need no section.
    let q = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64","SCMP_ARCH_ARM",
            "SCMP_ARCH_PPC64LE","SCMP_ARCH_S390X","SCMP_ARCH_RISCV64","SCMP_ARCH_MIPSEL64"],
            "syscalls":[{"names":["mkdirat","no_such_syscall"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(v(&q, Abi::X86_64, "mkdirat", A0), ERRNO | 1);
    assert_eq!(v(&q, Abi::X86, "getpid", A0), KILL_THREAD);
}

#[test]
fn every_action() {
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
            "syscalls":[
              {"names":["mkdir"],"action":"SCMP_ACT_KILL"},
              {"names":["rmdir"],"action":"SCMP_ACT_KILL_THREAD"},
              {"names":["link"],"action":"SCMP_ACT_KILL_PROCESS"},
              {"names":["unlink"],"action":"SCMP_ACT_TRAP"},
              {"names":["chmod"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
              {"names":["chown"],"action":"SCMP_ACT_TRACE","errnoRet":7},
              {"names":["lchown"],"action":"SCMP_ACT_TRACE"},
              {"names":["rename"],"action":"SCMP_ACT_LOG"},
              {"names":["symlink"],"action":"SCMP_ACT_NOTIFY"},
              {"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let x = Abi::X86_64;
    assert_eq!(v(&p, x, "mkdir", A0), KILL_THREAD);
    assert_eq!(v(&p, x, "rmdir", A0), KILL_THREAD);
    assert_eq!(v(&p, x, "link", A0), KILL_PROCESS);
    assert_eq!(v(&p, x, "unlink", A0), TRAP);
    assert_eq!(v(&p, x, "chmod", A0), ERRNO | 13);
    assert_eq!(v(&p, x, "chown", A0), TRACE | 7);
    assert_eq!(v(&p, x, "lchown", A0), TRACE | 1);
    assert_eq!(v(&p, x, "rename", A0), LOG);
    assert_eq!(v(&p, x, "symlink", A0), USER_NOTIF);
    assert_eq!(v(&p, x, "getpid", A0), ALLOW);
    assert!(p.notifies());
    assert_eq!(p.flags() & FLAG_NEW_LISTENER, FLAG_NEW_LISTENER);
    assert_eq!(
        p.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    let d = prog(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":95}"#);
    assert_eq!(v(&d, x, "getpid", A0), ERRNO | 95);
    let d = prog(r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS"}"#);
    assert_eq!(v(&d, x, "getpid", A0), KILL_PROCESS);
}

#[test]
fn argument_conditions_compare_64_bits() {
    let p = prog(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW",{ALL_X86},
            "syscalls":[{{"names":["personality"],"action":"SCMP_ACT_ERRNO",
              "args":[{{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}}]}}]}}"#
    ));
    let x = Abi::X86_64;
    assert_eq!(
        v(&p, x, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        ERRNO | 1
    );
    assert_eq!(v(&p, x, "personality", [0, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        v(&p, x, "personality", [0x1_ffff_ffff, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(v(&p, x, "personality", [0, 0xffff_ffff, 0, 0, 0, 0]), ALLOW);
    // On i386 only the low half exists.
    assert_eq!(
        v(&p, Abi::X86, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        ERRNO | 1
    );
    assert_eq!(
        v(&p, Abi::X32, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        ERRNO | 1
    );
}

/// Small deterministic PRNG for the operator sweep.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn value(&mut self, pool: &[u64]) -> u64 {
        let r = self.next();
        match r % 4 {
            0 => r,
            1 => r & 0xffff_ffff,
            _ => pool[(r >> 8) as usize % pool.len()],
        }
    }
}

/// libseccomp's semantics of one comparison on a 64-bit ABI.
fn holds(op: &str, arg: u64, value: u64, value_two: u64) -> bool {
    match op {
        "SCMP_CMP_EQ" => arg == value,
        "SCMP_CMP_NE" => arg != value,
        "SCMP_CMP_LT" => arg < value,
        "SCMP_CMP_LE" => arg <= value,
        "SCMP_CMP_GT" => arg > value,
        "SCMP_CMP_GE" => arg >= value,
        // libseccomp masks the datum too.
        "SCMP_CMP_MASKED_EQ" => arg & value == value_two & value,
        _ => unreachable!(),
    }
}

#[test]
fn every_operator_against_a_reference() {
    const OPS: [&str; 7] = [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ];
    let pool = [
        0,
        1,
        2,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0xffff_ffff_0000_0000,
        u64::MAX,
        u64::MAX - 1,
        0x7e02_0000,
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let op = OPS[round % OPS.len()];
        let value = rng.value(&pool);
        let value_two = if round % 3 == 0 {
            value & rng.value(&pool)
        } else {
            rng.value(&pool)
        };
        let index = (round % 6) as u64;
        let p = prog(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW",{ALL_X86},
                "syscalls":[{{"names":["ioctl"],"action":"SCMP_ACT_ERRNO","errnoRet":5,
                  "args":[{{"index":{index},"value":{value},"valueTwo":{value_two},"op":"{op}"}}]}}]}}"#
        ));
        for _ in 0..40 {
            let mut args = [0u64; 6];
            for a in args.iter_mut() {
                *a = rng.value(&pool);
            }
            if rng.next().is_multiple_of(3) {
                args[index as usize] = value;
            }
            let arg = args[index as usize];
            let want64 = holds(op, arg, value, value_two);
            assert_eq!(
                v(&p, Abi::X86_64, "ioctl", args) == ERRNO | 5,
                want64,
                "{op} arg={arg:#x} value={value:#x} value_two={value_two:#x}"
            );
            // i386 and x32 (as libseccomp): low halves only.
            let lo = |x: u64| x & 0xffff_ffff;
            let args32 = args.map(lo);
            let want32 = holds(op, lo(arg), lo(value), lo(value_two));
            assert_eq!(
                v(&p, Abi::X86, "ioctl", args32) == ERRNO | 5,
                want32,
                "i386 {op} arg={arg:#x} value={value:#x} value_two={value_two:#x}"
            );
            assert_eq!(
                v(&p, Abi::X32, "ioctl", args) == ERRNO | 5,
                want32,
                "x32 {op}"
            );
        }
    }
}

#[test]
fn conditions_and_rules_combine_like_runc() {
    // Distinct indexes: AND.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["socket"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":3,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let x = Abi::X86_64;
    assert_eq!(v(&p, x, "socket", [2, 3, 0, 0, 0, 0]), ERRNO | 1);
    assert_eq!(v(&p, x, "socket", [2, 1, 0, 0, 0, 0]), ALLOW);
    assert_eq!(v(&p, x, "socket", [1, 3, 0, 0, 0, 0]), ALLOW);
    // The same index twice: each condition is its own rule (OR), as runc.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["socket"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":0,"value":10,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(v(&p, x, "socket", [2, 0, 0, 0, 0, 0]), ERRNO | 1);
    assert_eq!(v(&p, x, "socket", [10, 0, 0, 0, 0, 0]), ERRNO | 1);
    assert_eq!(v(&p, x, "socket", [1, 0, 0, 0, 0, 0]), ALLOW);
    // Several rules: OR; different actions: the matching one.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22,
             "args":[{"index":0,"value":4,"op":"SCMP_CMP_GE"}]}]}"#,
    );
    assert_eq!(v(&p, x, "personality", [0; 6]), ALLOW);
    assert_eq!(v(&p, x, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(v(&p, x, "personality", [5, 0, 0, 0, 0, 0]), ERRNO | 22);
    assert_eq!(v(&p, x, "personality", [1, 0, 0, 0, 0, 0]), ERRNO | 1);
}

#[test]
fn an_unconditional_rule_wins_and_default_rules_are_dropped() {
    for order in [
        r#"{"names":["kill"],"action":"SCMP_ACT_ALLOW"},
           {"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":3,"args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]}"#,
        r#"{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":3,"args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]},
           {"names":["kill"],"action":"SCMP_ACT_ALLOW"}"#,
    ] {
        let p = prog(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{order}]}}"#
        ));
        assert_eq!(v(&p, Abi::X86_64, "kill", [1, 9, 0, 0, 0, 0]), ALLOW);
    }
    // An unconditional rule with the default action is skipped (runc), so the conditional one
    // after it still applies.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["kill"],"action":"SCMP_ACT_ERRNO"},
            {"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(v(&p, Abi::X86_64, "kill", [1, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(v(&p, Abi::X86_64, "kill", [1, 9, 0, 0, 0, 0]), ERRNO | 1);
}

#[test]
fn x32_dispatches_on_the_x32_bit() {
    let p = prog(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO",{ALL_X86},
            "syscalls":[{{"names":["readv","getpid","exit_group"],"action":"SCMP_ACT_ALLOW"}}]}}"#
    ));
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 19, A0), ALLOW); // readv
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 515 | X32_SYSCALL_BIT, A0), ALLOW); // x32 readv
    assert_eq!(
        vn(&p, AUDIT_ARCH_X86_64, 19 | X32_SYSCALL_BIT, A0),
        ERRNO | 1
    ); // 64-bit readv nr as x32
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 39 | X32_SYSCALL_BIT, A0), ALLOW); // x32 getpid
    assert_eq!(vn(&p, AUDIT_ARCH_I386, 20, A0), ALLOW); // i386 getpid
    assert_eq!(vn(&p, AUDIT_ARCH_I386, 39, A0), ERRNO | 1); // i386 mkdir
}

#[test]
fn enosys_above_the_highest_named_syscall() {
    let p = prog(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,{ALL_X86},
            "syscalls":[{{"names":["getpid","mkdir","clone3"],"action":"SCMP_ACT_ALLOW"}}]}}"#
    ));
    let enosys = ERRNO | libc::ENOSYS as u32;
    // clone3 = 435 on every x86 ABI.
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 435, A0), ALLOW);
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 436, A0), enosys);
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 434, A0), ERRNO | 1);
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 0xffff_ffff, A0), enosys);
    assert_eq!(vn(&p, AUDIT_ARCH_I386, 436, A0), enosys);
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 436 | X32_SYSCALL_BIT, A0), enosys);
    // Permissive defaults, or ENOSYS as the default, need no stub.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 436, A0), LOG);
    // Without `architectures` (native only), runc adds no stub either.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(vn(&p, AUDIT_ARCH_X86_64, 436, A0), ERRNO | 1);
}

#[test]
fn i386_socket_calls_are_also_matched_through_socketcall() {
    let p = prog(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO",{ALL_X86},
            "syscalls":[{{"names":["socket"],"action":"SCMP_ACT_ALLOW",
              "args":[{{"index":0,"value":40,"op":"SCMP_CMP_NE"}}]}},
              {{"names":["semop"],"action":"SCMP_ACT_ALLOW"}}]}}"#
    ));
    let i = AUDIT_ARCH_I386;
    assert_eq!(vn(&p, i, 359, [2, 1, 0, 0, 0, 0]), ALLOW);
    assert_eq!(vn(&p, i, 359, [40, 1, 0, 0, 0, 0]), ERRNO | 1);
    assert_eq!(vn(&p, i, 102, [1, 0x1234, 0, 0, 0, 0]), ALLOW); // socketcall(SYS_SOCKET)
    assert_eq!(vn(&p, i, 102, [3, 0x1234, 0, 0, 0, 0]), ERRNO | 1); // socketcall(SYS_CONNECT)
    assert_eq!(vn(&p, i, 117, [1, 0, 0, 0, 0, 0]), ALLOW); // ipc(SEMOP)
    assert_eq!(vn(&p, i, 117, [2, 0, 0, 0, 0, 0]), ERRNO | 1); // ipc(SEMGET)
    assert_eq!(v(&p, Abi::X86_64, "socket", [40, 0, 0, 0, 0, 0]), ERRNO | 1);
    assert_eq!(v(&p, Abi::X86_64, "socket", [10, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn long_programs_jump_through_trampolines() {
    // Every x86_64 syscall with a conditional rule of its own: thousands of instructions, far
    // jumps everywhere.
    let names: Vec<&str> = arch::SYSCALLS
        .iter()
        .filter(|(_, nrs)| nrs[0] >= 0)
        .map(|(n, _)| *n)
        .collect();
    let rules: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                r#"{{"names":["{n}"],"action":"SCMP_ACT_ERRNO","errnoRet":{},
                    "args":[{{"index":{},"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#,
                i + 1,
                i % 6
            )
        })
        .collect();
    let p = prog(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{}]}}"#,
        rules.join(",")
    ));
    assert!(p.len() > 2000, "{} instructions", p.len());
    for (i, n) in names.iter().enumerate() {
        let mut args = [1000u64; 6];
        args[i % 6] = i as u64;
        assert_eq!(v(&p, Abi::X86_64, n, args), ERRNO | (i as u32 + 1), "{n}");
        assert_eq!(v(&p, Abi::X86_64, n, [1000; 6]), ALLOW, "{n}");
    }
    // Every conditional jump stays within its 8-bit reach (the interpreter checks the targets).
    for ins in p.instructions() {
        if ins.code == bpf::JA {
            assert!((ins.k as usize) < p.len());
        }
    }
}

#[test]
fn bad_profiles_name_the_json_path() {
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
            {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(e.contains("linux.seccomp.syscalls[1].args[0].index"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid",""],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(e.contains("linux.seccomp.syscalls[0].names[1]"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#);
    assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("linux.seccomp.listenerPath"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x",
            "syscalls":[{"names":["mkdir","sendmsg"],"action":"SCMP_ACT_NOTIFY"}]}"#);
    assert!(e.contains("linux.seccomp.syscalls[0].names[1]"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
    );
    assert!(e.contains("linux.seccomp.syscalls[0].errnoRet"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":65536}"#);
    assert!(e.contains("linux.seccomp.defaultErrnoRet"), "{e}");
}

#[test]
fn bad_enum_values_fail_at_parse_with_their_path() {
    let spec = |seccomp: &str| {
        format!(
            r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":0,"gid":0}},"args":["sh"],"cwd":"/"}},
                "linux":{{"namespaces":[{{"type":"mount"}}],"seccomp":{seccomp}}}}}"#
        )
    };
    for (bad, path) in [
        (
            r#"{"defaultAction":"SCMP_ACT_NOPE"}"#,
            "linux.seccomp.defaultAction",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}"#,
            "linux.seccomp.architectures[0]",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW",
                "args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]}"#,
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#,
            "linux.seccomp.flags[0]",
        ),
    ] {
        let e = crate::spec::parse(std::path::Path::new("config.json"), spec(bad).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains(path), "{e}");
    }
}

#[test]
fn flags() {
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
    );
    // WAIT_KILLABLE_RECV only goes with a listener.
    assert_eq!(p.flags(), FLAG_LOG | FLAG_SPEC_ALLOW);
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/a","flags":["SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert_eq!(p.flags(), FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV);
    let mut p = p;
    p.check_kernel().expect("this kernel has seccomp notify");
    assert!(p.flags() & FLAG_NEW_LISTENER != 0);
}

#[test]
fn empty_profiles() {
    let p = prog(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    assert_eq!(v(&p, Abi::X86_64, "getpid", A0), ALLOW);
    let p = prog(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}"#);
    assert_eq!(v(&p, Abi::X86_64, "getpid", A0), ERRNO | 1);
}
