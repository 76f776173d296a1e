//! `process`: what the container's process sees of args, env, cwd, user, umask, capabilities,
//! noNewPrivileges, rlimits, oomScoreAdj, fds and its pid.

use serde_json::{json, Value};
use spec_tests::host::status_field;
use spec_tests::{harness, CmdOpts};

fn cap_mask(caps: &[&str]) -> u64 {
    caps.iter()
        .map(|c| {
            let bit = match *c {
                "CAP_CHOWN" => 0,
                "CAP_DAC_OVERRIDE" => 1,
                "CAP_FOWNER" => 3,
                "CAP_KILL" => 5,
                "CAP_SETGID" => 6,
                "CAP_SETUID" => 7,
                "CAP_NET_BIND_SERVICE" => 10,
                "CAP_NET_RAW" => 13,
                "CAP_SYS_CHROOT" => 18,
                "CAP_SYS_ADMIN" => 21,
                "CAP_AUDIT_WRITE" => 29,
                other => panic!("add {other} to cap_mask"),
            };
            1u64 << bit
        })
        .fold(0, |a, b| a | b)
}

/// The five Cap* masks from /proc/self/status: (Inh, Prm, Eff, Bnd, Amb).
fn caps_seen(status: &str) -> [u64; 5] {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
        .map(|k| u64::from_str_radix(&status_field(status, k)[0], 16).expect("hex capability mask"))
}

#[test]
fn args_are_passed_verbatim() {
    let h = harness!();
    let mut b = h.bundle();
    let out = h.probe(
        &mut b,
        &[
            "sh",
            "-c",
            "printf '[%s]' \"$0\" \"$@\"",
            "zero",
            "a b",
            "",
            "$HOME",
            "c'd",
        ],
    );
    assert_eq!(out, "[zero][a b][][$HOME][c'd]");
}

#[test]
fn env_is_exactly_the_config_plus_home() {
    let h = harness!();
    let mut b = h.bundle();
    b.set(
        "/process/env",
        json!(["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b"]),
    );
    b.args(&["env"]);
    b.write();
    let id = h.id();
    // A variable of the runtime's own environment must not reach the container.
    let out = h.cmd_opts(
        &["run", "--bundle", b.dir_str(), &id],
        &CmdOpts {
            env: vec![("SANGJA_SPEC_LEAK", "leaked")],
            ..CmdOpts::default()
        },
    );
    out.ok();
    let mut seen: Vec<&str> = out.stdout.lines().collect();
    seen.sort_unstable();
    let mut want = vec![
        "PATH=/bin:/usr/bin",
        "FOO=bar baz",
        "EMPTY=",
        "EQ=a=b",
        "HOME=/root",
    ];
    want.sort_unstable();
    assert_eq!(seen, want, "env inside the container:\n{out}");
}

#[test]
fn home_comes_from_passwd_unless_set() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    assert_eq!(h.sh(&mut b, "echo $HOME").trim(), "/home/tester");
    b.push("/process/env", json!("HOME=/custom"));
    assert_eq!(h.sh(&mut b, "echo $HOME").trim(), "/custom");
}

#[test]
fn cwd_is_the_configured_directory() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/cwd", json!("/etc"));
    assert_eq!(
        h.probe(&mut b, &["readlink", "/proc/self/cwd"]).trim(),
        "/etc"
    );
    b.set("/process/cwd", json!("/home/tester"));
    assert_eq!(h.probe(&mut b, &["pwd"]).trim(), "/home/tester");
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let h = harness!();
    let mut b = h.bundle();
    b.set(
        "/process/user",
        json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000]}),
    );
    let out = h.sh(&mut b, "id; cat /proc/self/status");
    let (id_line, status) = out.split_once('\n').expect("two parts");
    assert_eq!(
        id_line,
        "uid=1000(tester) gid=1000(tester) groups=2000,3000"
    );
    assert_eq!(status_field(status, "Uid"), ["1000"; 4]);
    assert_eq!(status_field(status, "Gid"), ["1000"; 4]);
    assert_eq!(status_field(status, "Groups"), ["2000", "3000"]);

    // No additionalGids: no supplementary groups at all (not the caller's).
    b.set("/process/user", json!({"uid": 0, "gid": 0}));
    let status = h.probe(&mut b, &["cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "Uid"), ["0"; 4]);
    assert!(
        status_field(&status, "Groups").is_empty(),
        "supplementary groups leaked: {:?}",
        status_field(&status, "Groups")
    );
}

#[test]
fn umask_is_applied() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/user/umask", json!(0o077));
    assert_eq!(h.sh(&mut b, "umask").trim(), "0077");
    b.set("/process/user/umask", json!(0o027));
    assert_eq!(h.sh(&mut b, "umask").trim(), "0027");
}

#[test]
fn default_spec_capabilities() {
    let h = harness!();
    let mut b = h.bundle();
    let status = h.probe(&mut b, &["cat", "/proc/self/status"]);
    let default = cap_mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let [inh, prm, eff, bnd, amb] = caps_seen(&status);
    assert_eq!(bnd, default, "CapBnd");
    assert_eq!(prm, default, "CapPrm");
    assert_eq!(eff, default, "CapEff");
    assert_eq!(inh, 0, "CapInh");
    // `runc spec` lists ambient caps but no inheritable ones; the kernel refuses to raise an ambient cap that
    // is not inheritable, so none are raised (and the container still starts).
    assert_eq!(amb, 0, "CapAmb");
}

#[test]
fn all_five_capability_sets_for_a_non_root_user() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let bounding = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_ADMIN",
    ];
    let permitted = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let inheritable = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let ambient = ["CAP_NET_BIND_SERVICE"];
    b.set(
        "/process/capabilities",
        json!({
            "bounding": bounding, "permitted": permitted, "effective": permitted,
            "inheritable": inheritable, "ambient": ambient,
        }),
    );
    let status = h.probe(&mut b, &["cat", "/proc/self/status"]);
    let [inh, prm, eff, bnd, amb] = caps_seen(&status);
    // After execve of a file without capabilities by a non-root user, the kernel keeps exactly the
    // ambient set in permitted and effective.
    assert_eq!(bnd, cap_mask(&bounding), "CapBnd\n{status}");
    assert_eq!(inh, cap_mask(&inheritable), "CapInh\n{status}");
    assert_eq!(amb, cap_mask(&ambient), "CapAmb\n{status}");
    assert_eq!(prm, cap_mask(&ambient), "CapPrm\n{status}");
    assert_eq!(eff, cap_mask(&ambient), "CapEff\n{status}");
}

#[test]
fn root_capabilities_are_bounded() {
    let h = harness!();
    let mut b = h.bundle();
    let bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"];
    let permitted = ["CAP_CHOWN", "CAP_KILL"];
    b.set(
        "/process/capabilities",
        json!({ "bounding": bounding, "permitted": permitted, "effective": ["CAP_KILL"] }),
    );
    // With noNewPrivileges (the runc spec default) execve as uid 0 cannot gain capabilities: permitted stays
    // the configured set and effective becomes all of it.
    assert_eq!(b.config["process"]["noNewPrivileges"], true);
    let status = h.probe(&mut b, &["cat", "/proc/self/status"]);
    let [inh, prm, eff, bnd, amb] = caps_seen(&status);
    assert_eq!(bnd, cap_mask(&bounding), "CapBnd\n{status}");
    assert_eq!(prm, cap_mask(&permitted), "CapPrm\n{status}");
    assert_eq!(eff, cap_mask(&permitted), "CapEff\n{status}");
    assert_eq!(inh, 0, "CapInh\n{status}");
    assert_eq!(amb, 0, "CapAmb\n{status}");

    // Without it, execve as uid 0 fills permitted and effective from the bounding set (no SECBIT_NOROOT,
    // like runc).
    b.set("/process/noNewPrivileges", json!(false));
    let status = h.probe(&mut b, &["cat", "/proc/self/status"]);
    let [inh, prm, eff, bnd, amb] = caps_seen(&status);
    assert_eq!(bnd, cap_mask(&bounding), "CapBnd\n{status}");
    assert_eq!(prm, cap_mask(&bounding), "CapPrm\n{status}");
    assert_eq!(eff, cap_mask(&bounding), "CapEff\n{status}");
    assert_eq!((inh, amb), (0, 0), "CapInh, CapAmb\n{status}");

    // And the dropped CAP_SYS_ADMIN is really gone: mount fails.
    let out = h.sh(&mut b, "mount -t tmpfs t /tmp 2>&1; echo rc=$?");
    assert!(
        !out.contains("rc=0"),
        "mount succeeded without CAP_SYS_ADMIN: {out}"
    );
}

#[test]
fn no_new_privileges_flag() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/noNewPrivileges", json!(true));
    let s = h.probe(&mut b, &["cat", "/proc/self/status"]);
    assert_eq!(status_field(&s, "NoNewPrivs"), ["1"]);
    b.set("/process/noNewPrivileges", json!(false));
    let s = h.probe(&mut b, &["cat", "/proc/self/status"]);
    assert_eq!(status_field(&s, "NoNewPrivs"), ["0"]);
}

/// (soft, hard) of a row of /proc/self/limits, e.g. "Max open files".
fn limit(limits: &str, row: &str) -> (String, String) {
    let line = limits
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no {row:?} in\n{limits}"));
    let f: Vec<&str> = line[row.len()..].split_whitespace().collect();
    (f[0].to_string(), f[1].to_string())
}

#[test]
fn rlimits_are_applied() {
    // Only lowering: this host's bounding set lacks CAP_SYS_RESOURCE, so raising a hard limit fails.
    let h = harness!();
    let mut b = h.bundle();
    b.set(
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
            {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
        ]),
    );
    let out = h.sh(&mut b, "ulimit -n; cat /proc/self/limits");
    let (ulimit, limits) = out.split_once('\n').expect("two parts");
    assert_eq!(ulimit, "512");
    assert_eq!(
        limit(limits, "Max open files"),
        ("512".into(), "768".into())
    );
    assert_eq!(
        limit(limits, "Max processes"),
        ("1000".into(), "2000".into())
    );
    assert_eq!(
        limit(limits, "Max core file size"),
        ("0".into(), "4096".into())
    );
}

#[test]
fn oom_score_adj_is_applied() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/oomScoreAdj", json!(500));
    assert_eq!(
        h.probe(&mut b, &["cat", "/proc/self/oom_score_adj"]).trim(),
        "500"
    );
    b.set("/process/oomScoreAdj", json!(123));
    assert_eq!(
        h.probe(&mut b, &["cat", "/proc/self/oom_score_adj"]).trim(),
        "123"
    );
}

#[test]
fn only_stdio_fds_reach_the_process() {
    let h = harness!();
    let mut b = h.bundle();
    // fd 3 is ls's own handle on /proc/self/fd.
    let out = h.probe(&mut b, &["ls", "/proc/self/fd"]);
    assert_eq!(out, "0\n1\n2\n3\n", "open fds in the container");
    // And none of them points into the host: stdin is what the runtime got (/dev/null here).
    let out = h.probe(&mut b, &["readlink", "/proc/self/fd/0"]);
    assert!(
        out.trim() == "/dev/null" || out.starts_with("pipe:"),
        "stdin is {out:?}"
    );
}

#[test]
fn process_is_pid_one() {
    let h = harness!();
    let mut b = h.bundle();
    assert_eq!(h.sh(&mut b, "echo $$").trim(), "1");
    let out = h.sh(&mut b, "cat /proc/1/cmdline | tr '\\0' ' '");
    assert_eq!(out.trim(), "sh -c cat /proc/1/cmdline | tr '\\0' ' '");
}

#[test]
fn terminal_false_keeps_the_callers_stdio() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/terminal", Value::Bool(false));
    let out = h.run(b.args(&["sh", "-c", "echo to-out; echo to-err >&2"]));
    out.ok();
    assert_eq!(out.stdout, "to-out\n");
    assert_eq!(out.stderr.trim(), "to-err");
}

/// Runs the bundle with `run <flags>` from a shell that first opens `fds` (`(fd, text)`: a file
/// holding `text` on fd `fd`) and runs `prelude`; returns the container's stdout.
fn run_with_caller_fds(
    h: &spec_tests::Harness,
    b: &spec_tests::Bundle,
    fds: &[(u32, &str)],
    prelude: &str,
    flags: &str,
) -> String {
    b.write();
    let dir = h.tempdir("fds");
    let mut redirects = String::new();
    for (fd, text) in fds {
        let file = dir.join(format!("fd{fd}"));
        std::fs::write(&file, text).expect("write fd file");
        redirects.push_str(&format!(" {fd}<{}", file.display()));
    }
    let id = h.id();
    h.track(&id);
    let script = format!(
        "exec{redirects}; {prelude} exec {bin} --root {root} run {flags} --bundle {bundle} {id}",
        bin = h.bin().display(),
        root = h.root().display(),
        bundle = b.dir_str(),
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn preserve_fds_passes_exactly_n_extra_fds() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&[
        "sh",
        "-c",
        "cat <&3; cat <&4; ls /proc/self/fd | tr '\\n' ' '",
    ]);
    // The caller opens fds 3, 4 and 5; only 3 and 4 are passed with --preserve-fds 2.
    let out = run_with_caller_fds(
        &h,
        &b,
        &[(3, "fd-three\n"), (4, "fd-four\n"), (5, "fd-five\n")],
        "",
        "--preserve-fds 2",
    );
    // ls's own directory fd takes the next free number, 5: the caller's fd 5 did not arrive.
    assert_eq!(out, "fd-three\nfd-four\n0 1 2 3 4 5 ");
}

#[test]
fn a_fresh_session_keyring_unless_no_new_keyring() {
    let h = harness!();
    let mut b = h.bundle();
    // /proc/keys is masked by the default config; unmask it to see the session keyring.
    let masked: Vec<Value> = b.config["linux"]["maskedPaths"]
        .as_array()
        .expect("maskedPaths")
        .iter()
        .filter(|p| p.as_str() != Some("/proc/keys"))
        .cloned()
        .collect();
    b.set("/linux/maskedPaths", json!(masked));
    b.args(&["cat", "/proc/keys"]);
    b.write();
    let id = h.id();
    let out = h.cmd(&["run", "--bundle", b.dir_str(), &id]);
    out.ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("keyring") && l.ends_with(&format!("{id}: empty"))),
        "no session keyring named {id}:\n{}",
        out.stdout
    );
    let id2 = h.id();
    let out = h.cmd(&["run", "--no-new-keyring", "--bundle", b.dir_str(), &id2]);
    out.ok();
    assert!(
        !out.stdout.contains(&id2),
        "--no-new-keyring still made one:\n{}",
        out.stdout
    );
}

#[test]
fn socket_activation_fds_come_first_with_listen_env() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3; cat <&4"]);
    // LISTEN_PID is the runtime's own pid ($$ survives the exec), so its LISTEN_FDS are honoured;
    // fd 3 is the activation socket, fd 4 the one --preserve-fds 1 adds after it.
    let out = run_with_caller_fds(
        &h,
        &b,
        &[(3, "activation-fd\n"), (4, "preserved-fd\n")],
        "export LISTEN_FDS=1 LISTEN_PID=$$;",
        "--preserve-fds 1",
    );
    assert_eq!(out, "1 1\nactivation-fd\npreserved-fd\n");
}

/// A `process.cwd` missing from the rootfs is created, as runc does (Kubernetes' workingDir).
#[test]
fn a_missing_cwd_is_created_inside_the_rootfs() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.set("/process/cwd", json!("/work/dir"));
    let out = h.sh(&mut b, "pwd");
    assert_eq!(out, "/work/dir\n");
    assert!(
        b.rootfs().join("work/dir").is_dir(),
        "created inside the rootfs"
    );
}

/// The effective capabilities are what `execve` checks: uid 1000 with CAP_DAC_OVERRIDE runs a
/// program only its owner (root) may execute, as the kernel allows and runc does. Against runc
/// too where it is installed.
#[test]
fn effective_capabilities_count_for_the_executable() {
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let mut b = h.bundle_private();
        // busybox runs the applet its argv[0] names: `echo`.
        std::fs::create_dir_all(b.rootfs().join("opt")).expect("mkdir /opt");
        let prog = b.rootfs().join("opt/echo");
        std::fs::copy(b.rootfs().join("bin/busybox"), &prog).expect("copy busybox");
        std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod 0700");
        b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
        for set in ["bounding", "effective", "permitted"] {
            b.push(
                &format!("/process/capabilities/{set}"),
                json!("CAP_DAC_OVERRIDE"),
            );
        }
        b.args(&["/opt/echo", "ran"]);
        let out = h.run(&b);
        let name = h.bin().display();
        assert!(out.success() && out.stdout.trim() == "ran", "{name}: {out}");
        // Without the capability it is refused, as runc refuses it.
        b.remove("/process/capabilities/effective");
        b.remove("/process/capabilities/permitted");
        let out = h.run(&b);
        assert!(
            !out.success(),
            "{name}: ran without CAP_DAC_OVERRIDE: {out}"
        );
    }
}
