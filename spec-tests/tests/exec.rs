//! `exec`: a new process in a running container, as runc 1.1.5 runs it. What the process sees (output,
//! exit code, namespaces, cgroup, root, hostname, identity, capabilities, rlimits, fds), `--process`
//! files, `--detach --pid-file`, the error wording clients match, terminals with `--console-socket` for
//! `create` and `exec`, and a differential against runc.
//!
//! Every test also passes against runc 1.1.5 itself (`SANGJA_BIN=/usr/sbin/runc`) except where a comment
//! says runc is wrong.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spec_tests::console::{self, ConsoleSocket, Pty};
use spec_tests::host::status_field;
use spec_tests::{assert_nothing_left, harness, host, runc_harness, secs, Bundle, Container};
use spec_tests::{Harness, Output};

/// runc's wording (libcontainer/utils), matched by clients.
const NEEDS_CONSOLE_SOCKET: &str =
    "cannot allocate tty if runc will detach without setting console socket";
const CANNOT_USE_CONSOLE_SOCKET: &str =
    "cannot use console socket if runc will not detach or allocate tty";

/// What the runtime exits with when an exec cannot be started (runc: `fatalWithCode(err, 255)`).
const EXEC_FAILED: i32 = 255;

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// A running container (`sleep 1000`) from a private rootfs holding a marker file only it has, with the
/// hostname `exec-host`.
struct Running {
    b: Bundle,
    c: Container,
    init: i64,
}

const MARKER: &str = "exec-marker-only-in-the-rootfs";

fn running_with(h: &Harness, edit: impl FnOnce(&mut Bundle)) -> Running {
    let mut b = h.bundle_private();
    fs::write(b.rootfs().join(MARKER), "marker\n").expect("write the marker");
    b.args(&["sleep", "1000"]);
    b.set("/hostname", json!("exec-host"));
    edit(&mut b);
    let c = h.create_and_start(&b);
    let init = h.pid(&c.id);
    Running { b, c, init }
}

fn running(h: &Harness) -> Running {
    running_with(h, |_| {})
}

/// `exec [args...]` (the caller puts the id where it belongs).
#[track_caller]
fn exec(h: &Harness, args: &[&str]) -> Output {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    h.cmd(&all)
}

/// `exec <flags...> ID <command...>`, asserting success; its stdout.
#[track_caller]
fn exec_ok(h: &Harness, id: &str, flags: &[&str], command: &[&str]) -> String {
    let mut args: Vec<&str> = flags.to_vec();
    args.push(id);
    args.extend_from_slice(command);
    let out = exec(h, &args);
    out.ok();
    out.stdout
}

/// Asserts the exit code of a failed exec and a one-line error containing `needle`.
#[track_caller]
fn assert_exec_error(out: &Output, needle: &str) {
    out.assert_error(needle);
    assert_eq!(
        out.code, EXEC_FAILED,
        "runc exits 255 when exec fails:\n{out}"
    );
}

/// A hexadecimal capability mask field of /proc/<pid>/status text.
fn cap_field(status: &str, key: &str) -> u64 {
    u64::from_str_radix(&status_field(status, key)[0], 16).expect("hex capability mask")
}

const CAP_SYS_ADMIN: u64 = 1 << 21;

/// The host's `/proc/<pid>/status`.
fn host_status(pid: i64) -> String {
    fs::read_to_string(format!("/proc/{pid}/status")).expect("read the init's status")
}

/// The pids in the cgroup of `init` (its pids controller on cgroup v1, its cgroup2 group otherwise).
fn cgroup_procs(init: i64) -> Vec<i64> {
    let init_s = init.to_string();
    let dir = match (host::v1_hierarchy("pids"), host::cgroup_of(&init_s, "pids")) {
        (Some(root), Some(path)) => root.join(path.trim_start_matches('/')),
        _ => {
            let (_, path) = host::proc_cgroups(&init_s)
                .into_iter()
                .find(|(c, _)| c.is_empty())
                .expect("a cgroup2 line");
            let root = host::cgroup_mounts()
                .into_iter()
                .find(|m| m.fstype == "cgroup2")
                .expect("a cgroup2 mount")
                .path;
            root.join(path.trim_start_matches('/'))
        }
    };
    let p = dir.join("cgroup.procs");
    let mut pids: Vec<i64> = fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// Asserts (allowing 2 s) that the container's cgroup holds only its init.
#[track_caller]
fn assert_only_init(r: &Running, after: &str) {
    let mut procs = Vec::new();
    assert!(
        host::wait_until(secs(2), || {
            procs = cgroup_procs(r.init);
            procs == [r.init]
        }),
        "after {after}, the container's cgroup holds {procs:?}, not just its init {}",
        r.init
    );
}

/// Runs `script` with `sh -c` on the host (for fd set-ups), stdin null; (exit code, stdout, stderr).
fn host_sh(script: &str) -> (i32, String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The runtime command line prefix for host shell scripts: `<bin> --root <root>`.
fn bin_and_root(h: &Harness) -> String {
    format!("{} --root {}", h.bin().display(), h.root().display())
}

// ---------------------------------------------------------------------------------------------------------
// 1. Output and exit code

#[test]
fn output_and_exit_code() {
    let h = harness!();
    let r = running(&h);
    let id = &r.c.id;

    let out = exec(&h, &[id, "sh", "-c", "echo hi; echo err >&2; exit 7"]);
    assert_eq!(out.code, 7, "exec's exit code is the process's:\n{out}");
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert_eq!(
        out.stderr, "err\n",
        "the process's stderr, nothing else:\n{out}"
    );

    let out = exec(&h, &[id, "true"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("", ""),
        "{out}"
    );
    assert_eq!(exec(&h, &[id, "false"]).code, 1);

    // Killed by a signal: 128 + signal, as a shell reports it.
    let out = exec(&h, &[id, "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.code, 128 + 9, "{out}");

    // The exec is gone and the container still runs.
    assert_only_init(&r, "three execs");
    assert_eq!(h.status(id), "running");
}

#[test]
fn exec_into_a_created_container() {
    // runc allows exec before start (the init is waiting in its namespaces).
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "1000"]);
    let c = h.create(&b);
    assert_eq!(exec_ok(&h, &c.id, &[], &["echo", "early"]), "early\n");
    assert_eq!(h.status(&c.id), "created");
    h.cmd(&["start", &c.id]).ok();
    assert_eq!(h.status(&c.id), "running");
}

// ---------------------------------------------------------------------------------------------------------
// 2. The process joins the container

#[test]
fn joins_namespaces_cgroup_root_and_hostname() {
    let h = harness!();
    let r = running(&h);
    let id = &r.c.id;
    let init = r.init.to_string();

    let kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];
    let script = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}"))
        .collect::<Vec<_>>()
        .join("; ");
    let seen = exec_ok(&h, id, &[], &["sh", "-c", &script]);
    let want: Vec<String> = kinds.iter().map(|k| host::ns_id(&init, k)).collect();
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        want,
        "the exec's namespaces (left) are the init's (right)"
    );
    for k in ["pid", "net", "ipc", "uts", "mnt"] {
        assert_ne!(
            host::ns_id(&init, k),
            host::ns_id("self", k),
            "the init has its own {k} namespace (else the check above proves nothing)"
        );
    }

    assert_eq!(
        exec_ok(&h, id, &[], &["cat", "/proc/self/cgroup"]),
        fs::read_to_string(format!("/proc/{init}/cgroup")).expect("read the init's cgroup"),
        "the exec is in the init's cgroups"
    );

    assert_eq!(exec_ok(&h, id, &[], &["hostname"]), "exec-host\n");

    let ls = exec_ok(&h, id, &[], &["ls", "/"]);
    assert!(
        ls.lines().any(|l| l == MARKER),
        "`ls /` shows the container's rootfs (with {MARKER}):\n{ls}"
    );
    assert_eq!(
        exec_ok(&h, id, &[], &["cat", &format!("/{MARKER}")]),
        "marker\n"
    );

    // In the container's pid namespace: not pid 1, and pid 1 is the container's init.
    let stat = exec_ok(&h, id, &[], &["cat", "/proc/self/stat"]);
    let pid: i64 = stat
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {stat:?}"));
    assert!(pid > 1 && pid < 1000, "pid inside the container: {pid}");
    assert_eq!(
        exec_ok(&h, id, &[], &["cat", "/proc/1/cmdline"]),
        "sleep\u{0}1000\u{0}",
        "pid 1 as the exec sees it is the container's init"
    );
}

// ---------------------------------------------------------------------------------------------------------
// 3. Identity, environment, capabilities, rlimits

#[test]
fn user_and_additional_gids() {
    let h = harness!();
    let r = running(&h);
    let id = &r.c.id;
    assert_eq!(exec_ok(&h, id, &[], &["id"]), "uid=0(root) gid=0(root)\n");
    assert_eq!(
        exec_ok(&h, id, &["-u", "1000:1000"], &["id"]),
        "uid=1000(tester) gid=1000(tester)\n"
    );
    assert_eq!(
        exec_ok(&h, id, &["--user", "1000"], &["id"]),
        "uid=1000(tester) gid=0(root)\n",
        "a uid alone means gid 0 (runc)"
    );
    // runc accepts repeats of one form of the flag (mixing `-g` and `--additional-gids` is a usage
    // error in runc's CLI library).
    for flags in [
        ["-g", "5", "-g", "6"],
        ["--additional-gids", "5", "--additional-gids", "6"],
    ] {
        let mut all = vec!["-u", "1000:1000"];
        all.extend_from_slice(&flags);
        let status = exec_ok(&h, id, &all, &["sh", "-c", "id; cat /proc/self/status"]);
        let (id_line, status) = status.split_once('\n').expect("two parts");
        assert_eq!(
            id_line, "uid=1000(tester) gid=1000(tester) groups=5(tty),6",
            "{flags:?}"
        );
        assert_eq!(status_field(status, "Uid"), ["1000"; 4]);
        assert_eq!(status_field(status, "Groups"), ["5", "6"], "{flags:?}");
    }
}

#[test]
fn env_and_cwd() {
    let h = harness!();
    let r = running_with(&h, |b| {
        b.set("/process/env", json!(["PATH=/usr/bin:/bin", "KEEP=1"]));
    });
    let id = &r.c.id;
    let env = |flags: &[&str]| -> Vec<String> {
        let mut lines: Vec<String> = exec_ok(&h, id, flags, &["env"])
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(env(&[]), ["HOME=/root", "KEEP=1", "PATH=/usr/bin:/bin"]);
    assert_eq!(
        env(&["-e", "FOO=bar", "-e", "PATH=/bin", "-e", "EMPTY="]),
        ["EMPTY=", "FOO=bar", "HOME=/root", "KEEP=1", "PATH=/bin"],
        "-e adds, and replaces a variable of the container's process"
    );
    assert_eq!(
        env(&["--env", "FOO=long"]),
        ["FOO=long", "HOME=/root", "KEEP=1", "PATH=/usr/bin:/bin"]
    );
    // The runtime's own environment does not leak in.
    let out = h.cmd_opts(
        &["exec", id, "env"],
        &spec_tests::CmdOpts {
            env: vec![("SANGJA_SPEC_LEAK", "leaked")],
            ..Default::default()
        },
    );
    out.ok();
    assert!(!out.stdout.contains("SANGJA_SPEC_LEAK"), "{out}");

    assert_eq!(exec_ok(&h, id, &[], &["pwd"]), "/\n");
    assert_eq!(exec_ok(&h, id, &["--cwd", "/tmp"], &["pwd"]), "/tmp\n");
    assert_eq!(
        exec_ok(
            &h,
            id,
            &["--cwd", "/home/tester"],
            &["readlink", "/proc/self/cwd"]
        ),
        "/home/tester\n"
    );
}

#[test]
fn no_new_privs_flag() {
    let h = harness!();
    let r = running_with(&h, |b| {
        b.set("/process/noNewPrivileges", json!(false));
    });
    let id = &r.c.id;
    let nnp = |flags: &[&str]| {
        status_field(
            &exec_ok(&h, id, flags, &["cat", "/proc/self/status"]),
            "NoNewPrivs",
        )[0]
        .clone()
    };
    assert_eq!(
        status_field(&host_status(r.init), "NoNewPrivs"),
        ["0"],
        "the init has no NNP"
    );
    assert_eq!(
        nnp(&[]),
        "0",
        "the container's process spec applies by default"
    );
    assert_eq!(nnp(&["--no-new-privs"]), "1");
}

#[test]
fn cap_flag_adds_a_capability() {
    let h = harness!();
    let r = running(&h);
    let id = &r.c.id;
    let init = host_status(r.init);
    assert_eq!(
        cap_field(&init, "CapBnd") & CAP_SYS_ADMIN,
        0,
        "not in the config"
    );

    let status = exec_ok(
        &h,
        id,
        &["-c", "CAP_SYS_ADMIN"],
        &["cat", "/proc/self/status"],
    );
    for key in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(
            cap_field(&status, key),
            cap_field(&init, key) | CAP_SYS_ADMIN,
            "{key}: the init's plus bit 21"
        );
    }
    // runc 1.1.5 adds `--cap` to the bounding, effective and permitted sets only (and to the ambient set
    // when the process has an inheritable set, which `runc spec`'s has not): the inheritable and
    // ambient sets stay the init's.
    for key in ["CapInh", "CapAmb"] {
        assert_eq!(cap_field(&status, key), cap_field(&init, key), "{key}");
    }
    // The flag can be repeated.
    let status = exec_ok(
        &h,
        id,
        &["--cap", "CAP_SYS_ADMIN", "--cap", "CAP_CHOWN"],
        &["cat", "/proc/self/status"],
    );
    assert_eq!(
        cap_field(&status, "CapEff"),
        cap_field(&init, "CapEff") | CAP_SYS_ADMIN | 1
    );
}

#[test]
fn process_spec_capabilities_and_rlimits_apply_by_default() {
    let h = harness!();
    let r = running_with(&h, |b| {
        b.set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": 555, "hard": 777},
                   {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}]),
        );
        b.set(
            "/process/capabilities",
            json!({"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
                   "permitted": ["CAP_CHOWN", "CAP_KILL"],
                   "effective": ["CAP_KILL"]}),
        );
    });
    let init = host_status(r.init);
    let status = exec_ok(&h, &r.c.id, &[], &["cat", "/proc/self/status"]);
    for key in [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
    ] {
        assert_eq!(
            status_field(&status, key),
            status_field(&init, key),
            "{key} of the exec (left) and the init (right)"
        );
    }
    // Root's effective set becomes its permitted set at execve.
    assert_eq!(
        cap_field(&status, "CapEff"),
        1 | 1 << 5,
        "CAP_CHOWN and CAP_KILL"
    );
    assert_eq!(cap_field(&status, "CapBnd"), 1 | 1 << 5 | 1 << 13);

    // runc 1.1.5 often gets RLIMIT_NOFILE's soft limit wrong in exec (777 here: the Go runtime of
    // `runc init` raises the soft limit to the hard one, racing with the parent's prlimit); the spec
    // says 555.
    let limits = exec_ok(
        &h,
        &r.c.id,
        &[],
        &["sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu"],
    );
    assert_eq!(limits, "555\n777\n300\n400\n");
    let host_limits =
        fs::read_to_string(format!("/proc/{}/limits", r.init)).expect("read the init's limits");
    let open_files = host_limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["555", "777"],
        "the init's"
    );
}

// ---------------------------------------------------------------------------------------------------------
// 4. File descriptors

#[test]
fn only_stdio_reaches_the_process() {
    let h = harness!();
    let r = running(&h);
    // ls's own directory fd is 3: nothing else is open.
    assert_eq!(
        exec_ok(&h, &r.c.id, &[], &["ls", "/proc/self/fd"]),
        "0\n1\n2\n3\n"
    );
    // An fd the caller holds (and does not preserve) does not arrive either.
    let dir = h.tempdir("fds");
    fs::write(dir.join("five"), "fd-five\n").expect("write");
    let script = format!(
        "exec 5<{d}/five; exec {rt} exec {id} sh -c 'ls /proc/self/fd | tr \"\\n\" \" \"'",
        d = dir.display(),
        rt = bin_and_root(&h),
        id = r.c.id,
    );
    let (code, stdout, stderr) = host_sh(&script);
    assert_eq!(code, 0, "{script}: {stderr}");
    assert_eq!(stdout, "0 1 2 3 ", "{script}");
}

#[test]
fn preserve_fds_passes_exactly_n_extra_fds() {
    let h = harness!();
    let r = running(&h);
    let dir = h.tempdir("fds");
    for (name, text) in [("three", "fd-three\n"), ("four", "fd-four\n")] {
        fs::write(dir.join(name), text).expect("write fd file");
    }
    let script = format!(
        "exec 3<{d}/three 4<{d}/four; exec {rt} exec --preserve-fds 1 {id} \
         sh -c 'cat <&3; ls /proc/self/fd | tr \"\\n\" \" \"'",
        d = dir.display(),
        rt = bin_and_root(&h),
        id = r.c.id,
    );
    let (code, stdout, stderr) = host_sh(&script);
    assert_eq!(code, 0, "{script}: {stderr}");
    // fd 3 arrived; 4 did not (ls's directory fd takes number 4).
    assert_eq!(stdout, "fd-three\n0 1 2 3 4 ", "{script}");
}

// ---------------------------------------------------------------------------------------------------------
// 5. exec --process FILE

#[test]
fn process_file() {
    let h = harness!();
    let r = running(&h);
    let file = h.base().join("process.json");
    fs::write(
        &file,
        json!({
            "args": ["sh", "-c", "id; pwd; env | sort; exit 3"],
            "env": ["PATH=/bin", "X=1"],
            "cwd": "/etc",
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]},
        })
        .to_string(),
    )
    .expect("write process.json");
    for flag in ["--process", "-p"] {
        let out = exec(&h, &[flag, file.to_str().expect("UTF-8"), &r.c.id]);
        assert_eq!(out.code, 3, "{out}");
        assert_eq!(
            out.stdout,
            "uid=1000(tester) gid=1000(tester) groups=5(tty)\n/etc\n\
             HOME=/home/tester\nPATH=/bin\nPWD=/etc\nSHLVL=1\nX=1\n",
            "{out}"
        );
    }
}

#[test]
fn malformed_process_file() {
    let h = harness!();
    let r = running(&h);
    let file = h.base().join("process.json");
    fs::write(&file, r#"{"args": "sh", "cwd": "/"}"#).expect("write");
    let out = exec(&h, &["--process", file.to_str().expect("UTF-8"), &r.c.id]);
    assert_exec_error(&out, "args");
    assert!(
        out.stderr.contains("string") || out.stderr.contains("sequence"),
        "the error says what is wrong with `args`:\n{out}"
    );

    let missing = h.base().join("nosuch.json");
    let out = exec(
        &h,
        &["--process", missing.to_str().expect("UTF-8"), &r.c.id],
    );
    assert_exec_error(&out, missing.to_str().expect("UTF-8"));
    assert_only_init(&r, "malformed process files");
}

// ---------------------------------------------------------------------------------------------------------
// 6. --detach --pid-file

#[test]
fn detach_with_pid_file() {
    let h = harness!();
    let r = running(&h);
    let pid_file = h.base().join("exec.pid");
    let out = exec(
        &h,
        &[
            "-d",
            "--pid-file",
            pid_file.to_str().expect("UTF-8"),
            &r.c.id,
            "sleep",
            "30",
        ],
    );
    out.ok();
    let text = fs::read_to_string(&pid_file).expect("pid file written");
    assert!(
        !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()),
        "the pid file holds the bare pid: {text:?}"
    );
    let pid: i64 = text.parse().expect("pid");
    assert!(
        host::pid_alive(pid),
        "exec'd process {pid} survived sangja's exit"
    );
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/cmdline")).expect("cmdline"),
        "sleep\u{0}30\u{0}"
    );
    assert_eq!(
        host::proc_cgroups(&pid.to_string()),
        host::proc_cgroups(&r.init.to_string()),
        "in the container's cgroup"
    );
    assert_eq!(
        host::ns_id(&pid.to_string(), "pid"),
        host::ns_id(&r.init.to_string(), "pid")
    );
    let mut procs = cgroup_procs(r.init);
    procs.retain(|p| *p != r.init);
    assert_eq!(procs, [pid], "the cgroup holds the init and the exec");
    host::send_signal(pid, libc::SIGKILL);
    assert_only_init(&r, "killing the detached exec");
}

// ---------------------------------------------------------------------------------------------------------
// 7. Errors

/// `exec --process` with a process that has no `user` runs as uid 0, gid 0 (runc takes Go's
/// zero value; today's podman and CRI tools write such files).
#[test]
fn process_file_without_user_runs_as_root() {
    let h = harness!();
    let r = running(&h);
    let file = h.base().join("nouser.json");
    fs::write(
        &file,
        r#"{"cwd": "/", "args": ["id", "-u"], "env": ["PATH=/bin"]}"#,
    )
    .expect("write process.json");
    let out = exec(&h, &["--process", file.to_str().expect("UTF-8"), &r.c.id]);
    out.ok();
    assert_eq!(out.stdout.trim(), "0", "{out}");
}

/// A refused process field is named by the flag that set it (or the `--process` file's field),
/// never as a `config.json` field: exec does not read config.json.
#[test]
fn refused_flags_are_named_as_flags() {
    let h = harness!();
    let r = running(&h);
    let id = r.c.id.as_str();
    for (args, want) in [
        (
            vec!["--cwd", "rel", id, "true"],
            "exec failed: --cwd: must be an absolute path",
        ),
        (vec!["--env", "FOO", id, "true"], "exec failed: --env: "),
        (
            vec!["--user", "4294967295", id, "true"],
            "exec failed: --user: ",
        ),
    ] {
        let out = exec(&h, &args);
        assert_exec_error(&out, want);
        assert!(!out.stderr.contains("config.json"), "{out}");
    }
    let file = h.base().join("process.json");
    fs::write(
        &file,
        r#"{"cwd": "rel", "args": ["true"], "user": {"uid": 0, "gid": 0}}"#,
    )
    .expect("write process.json");
    let out = exec(&h, &["--process", file.to_str().expect("UTF-8"), id]);
    assert_exec_error(
        &out,
        &format!("{}: cwd: must be an absolute path", file.display()),
    );
}

#[test]
fn missing_binaries() {
    let h = harness!();
    let r = running(&h);
    let out = exec(&h, &[&r.c.id, "nosuchbin"]);
    assert_exec_error(
        &out,
        r#"exec failed: unable to start container process: exec: \"nosuchbin\": executable file not found in $PATH"#,
    );
    let out = exec(&h, &[&r.c.id, "/no/such"]);
    assert_exec_error(&out, r#"exec: \"/no/such\": "#);
    assert!(out.stderr.contains("no such file or directory"), "{out}");
    // A directory is not executable.
    let out = exec(&h, &[&r.c.id, "/tmp"]);
    assert_exec_error(&out, r#"exec: \"/tmp\": "#);
    assert!(out.stderr.contains("permission denied"), "{out}");
    let out = exec(&h, &["--cwd", "/nonexistent", &r.c.id, "true"]);
    assert_exec_error(&out, "/nonexistent");
    assert_only_init(&r, "failed execs");
    assert_eq!(h.status(&r.c.id), "running");
}

#[test]
fn ids_beyond_i32_max_are_refused() {
    // (uid_t)-1 means "leave unchanged" to setresuid: the process would keep running as root.
    let h = harness!();
    let r = running(&h);
    for (flags, field) in [
        (&["--user", "4294967295"][..], "--user"),
        (&["--user", "0:2147483648"], "--user"),
        (&["-u", "1000", "-g", "4294967295"], "--additional-gids"),
    ] {
        let mut args = flags.to_vec();
        args.extend_from_slice(&[&r.c.id, "touch", "/ran-as-root"]);
        let out = exec(&h, &args);
        assert_exec_error(&out, &format!("{field}: "));
        assert!(out.stderr.contains("range 0-2147483647"), "{out}");
    }
    assert!(
        !r.b.rootfs().join("ran-as-root").exists(),
        "a refused exec ran its command"
    );
    assert_only_init(&r, "refused execs");
}

#[test]
fn stopped_and_unknown_containers() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["true"]);
    let c = h.create_and_start(&b);
    h.wait_status(&c.id, "stopped", secs(10));
    let out = exec(&h, &[&c.id, "true"]);
    assert_exec_error(&out, "cannot exec in a stopped container");
    h.cmd(&["delete", &c.id]).ok();
    assert_nothing_left(&h, &c.id, &b);

    let out = exec(&h, &["nosuch-container", "true"]);
    assert_exec_error(&out, "container does not exist");
}

// ---------------------------------------------------------------------------------------------------------
// 8. Terminals

/// A console socket in the harness's work dir.
fn console_socket(h: &Harness) -> ConsoleSocket {
    ConsoleSocket::bind(&h.tempdir("console").join("sock"))
}

/// Checks what a console socket delivered: exactly one fd, a pty master (`/dev/ptmx`, char 5:2), the
/// payload `/dev/ptmx`. Returns its pts number.
#[track_caller]
fn check_master(got: &console::Received) -> u32 {
    assert_eq!(got.fds, 1, "one fd in the message");
    assert!(!got.truncated, "no truncated control data");
    assert_eq!(
        got.name, "/dev/ptmx",
        "the payload is the master's name (runc)"
    );
    assert_eq!(
        console::char_device(&got.master),
        Some((5, 2)),
        "the fd is a pty master"
    );
    console::pts_number(&got.master).expect("TIOCGPTN on the master")
}

#[test]
fn create_with_a_console_socket() {
    let h = harness!();
    let sock = console_socket(&h);
    let mut b = h.bundle_private();
    b.args(&["sh"]);
    b.set("/process/terminal", json!(true));
    b.set("/process/consoleSize", json!({"height": 33, "width": 101}));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &["--console-socket", sock.path_str()]);
    out.ok();
    let mut got = sock.receive(secs(10));
    let n = check_master(&got);
    assert_eq!(n, 0, "the first pty of the container's own devpts");
    assert_eq!(
        console::window_size(&got.master).expect("TIOCGWINSZ"),
        (33, 101),
        "consoleSize applied before the master is sent"
    );
    let init = h.pid(&id);
    assert!(
        got.closed_within(secs(5)),
        "the console socket connection is closed once create returned (the init does not hold it)"
    );
    h.cmd(&["start", &id]).ok();
    // runtime-spec: /dev/console is the container's pty (runc binds the slave there).
    let text = console::converse(
        &mut got.master,
        "stty size; tty; stat -c 'console %t:%T' /dev/console; stat -c 'pts0 %t:%T' /dev/pts/0; \
         echo via-console >/dev/console; exit 5\n",
        secs(20),
    );
    let lines = console::tty_lines(&text);
    assert!(lines.iter().any(|l| l == "33 101"), "stty size: {text:?}");
    assert!(lines.iter().any(|l| l == "/dev/pts/0"), "tty: {text:?}");
    assert!(
        lines.iter().any(|l| l == "console 88:0"),
        "/dev/console is not pts/0: {text:?}"
    );
    assert!(lines.iter().any(|l| l == "pts0 88:0"), "{text:?}");
    assert!(lines.iter().any(|l| l == "via-console"), "{text:?}");
    h.wait_status(&id, "stopped", secs(10));
    assert!(
        host::wait_until(secs(5), || !host::pid_alive(init)),
        "init {init} still alive"
    );
    h.cmd(&["delete", &id]).ok();
    assert_nothing_left(&h, &id, &b);
}

#[test]
fn exec_tty_with_a_console_socket() {
    // The shape containerd and conmon use: `exec --detach --tty --console-socket S --pid-file F`.
    let h = harness!();
    let r = running_with(&h, |b| {
        b.set("/process/consoleSize", json!({"height": 33, "width": 101}));
    });
    for form in ["flags", "process file"] {
        let sock = console_socket(&h);
        let pid_file = h.tempdir("pid").join("exec.pid");
        let pid_s = pid_file.to_str().expect("UTF-8");
        let out = if form == "flags" {
            exec(
                &h,
                &[
                    "-d",
                    "-t",
                    "--console-socket",
                    sock.path_str(),
                    "--pid-file",
                    pid_s,
                    &r.c.id,
                    "sh",
                ],
            )
        } else {
            let file = h.tempdir("proc").join("process.json");
            let mut p: Value = r.b.config["process"].clone();
            p["terminal"] = json!(true);
            p["args"] = json!(["sh"]);
            p["consoleSize"] = json!({"height": 44, "width": 120});
            fs::write(&file, p.to_string()).expect("write process.json");
            exec(
                &h,
                &[
                    "--process",
                    file.to_str().expect("UTF-8"),
                    "--console-socket",
                    sock.path_str(),
                    "--detach",
                    "--pid-file",
                    pid_s,
                    &r.c.id,
                ],
            )
        };
        out.ok();
        let mut got = sock.receive(secs(10));
        let n = check_master(&got);
        let want_size = if form == "flags" { "33 101" } else { "44 120" };
        let pid: i64 = fs::read_to_string(&pid_file)
            .expect("pid file")
            .parse()
            .expect("a pid");
        assert!(host::pid_alive(pid), "{form}: the shell runs");
        assert!(
            got.closed_within(secs(5)),
            "{form}: the console socket connection is closed once exec returned (the process does not \
             hold it)"
        );
        let text = console::converse(&mut got.master, "stty size; tty; exit 5\n", secs(20));
        let lines = console::tty_lines(&text);
        assert!(
            lines.iter().any(|l| l == want_size),
            "{form}: stty size (consoleSize of the process): {text:?}"
        );
        assert!(
            lines.iter().any(|l| *l == format!("/dev/pts/{n}")),
            "{form}: tty is /dev/pts/{n}: {text:?}"
        );
        assert!(
            host::wait_until(secs(5), || !host::pid_alive(pid)),
            "{form}: the shell {pid} did not exit"
        );
        assert_only_init(&r, &format!("exec -t ({form})"));
    }
    assert_eq!(h.status(&r.c.id), "running");
}

#[test]
fn exec_terminal_rules() {
    let h = harness!();
    let r = running(&h);
    let id = &r.c.id;
    let sock = console_socket(&h);

    // Detached with a tty but no socket.
    assert_exec_error(&exec(&h, &["-d", "-t", id, "true"]), NEEDS_CONSOLE_SOCKET);
    // A socket without a tty, detached or not.
    for flags in [&["-d"][..], &[]] {
        let mut args = flags.to_vec();
        args.extend_from_slice(&["--console-socket", sock.path_str(), id, "true"]);
        assert_exec_error(&exec(&h, &args), CANNOT_USE_CONSOLE_SOCKET);
    }
    // A socket with a tty in the foreground: runc refuses it too (the console socket is only for
    // detached processes).
    assert_exec_error(
        &exec(&h, &["-t", "--console-socket", sock.path_str(), id, "true"]),
        CANNOT_USE_CONSOLE_SOCKET,
    );
    // A tty in the foreground without a terminal to attach to (stdin is /dev/null): runc fails opening
    // /dev/tty.
    let out = exec(&h, &["-t", id, "true"]);
    out.failed();
    assert_eq!(out.code, EXEC_FAILED, "{out}");
    assert_only_init(&r, "refused terminal execs");
}

/// Prints the tty and its size. The size is polled for up to 2 s: runc copies its terminal's size to the
/// new pty only after the process started.
const SIZE_SCRIPT: &str = "tty; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do \
                           s=$(stty size 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != \"0 0\" ] && break; \
                           sleep 0.1; done; echo \"size $s\"; exit 5";

#[test]
fn exec_tty_from_an_interactive_terminal() {
    // `runc exec -t ID sh` typed at a terminal: the runtime makes a pty in the container, proxies it to
    // its own terminal (copying its window size) and exits with the process's status.
    let h = harness!();
    let r = running(&h);
    let pty = Pty::open(40, 120);
    let slave = pty.open_slave();
    let mut cmd = Command::new(h.bin());
    cmd.arg("--root")
        .arg(h.root())
        .args(["exec", "-t", &r.c.id, "sh", "-c", SIZE_SCRIPT])
        .stdin(slave.try_clone().expect("dup"))
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave);
    console::with_controlling_tty(&mut cmd);
    let mut child = cmd.spawn().expect("spawn exec -t");
    drop(cmd);
    let mut master = pty.master;
    let text = console::read_until_closed(&mut master, secs(20));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("exec -t did not exit; terminal: {text:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let lines = console::tty_lines(&text);
    assert_eq!(status.code(), Some(5), "exit status; terminal: {text:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("/dev/pts/")),
        "tty: {text:?}"
    );
    assert!(
        lines.iter().any(|l| l == "size 40 120"),
        "the caller's window size: {text:?}"
    );
    assert_only_init(&r, "exec -t from a terminal");
}

// ---------------------------------------------------------------------------------------------------------
// 9. Differential against runc

/// A running container under `h` whose cgroup is `/sangja-diff-<id>` (runc's default cgroup path differs
/// from ours); returns it and the cgroup path.
fn diff_container(h: &Harness) -> (Container, String) {
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    b.set("/process/noNewPrivileges", json!(false));
    let id = h.id();
    let cg = format!("/sangja-diff-{id}");
    b.set("/linux/cgroupsPath", json!(cg));
    let (out, c) = h.try_create(&b, &id, &[]);
    out.ok();
    h.cmd(&["start", &id]).ok();
    (c, cg)
}

#[test]
fn differential_against_runc() {
    let s = harness!();
    let r = runc_harness!();
    let (sc, scg) = diff_container(&s);
    let (rc, rcg) = diff_container(&r);
    let caps = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status";
    let probes: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "id"),
        (vec![], caps),
        (vec![], "env | sort"),
        (vec![], "cat /proc/self/cgroup"),
        (vec![], "cat /proc/self/limits"),
        (vec![], "ls /proc/self/fd; pwd; umask; hostname"),
        (
            vec!["-u", "1000:1000", "-g", "5", "-g", "2000"],
            "id; umask",
        ),
        (vec!["-u", "1000"], "id"),
        (vec!["-u", "1000:1000"], caps),
        (vec!["--no-new-privs"], caps),
        (vec!["-c", "CAP_SYS_ADMIN"], caps),
        (
            vec!["-e", "FOO=bar", "-e", "PATH=/bin", "--cwd", "/tmp"],
            "env | sort; pwd",
        ),
        (vec![], "echo out; echo err >&2; exit 42"),
    ];
    let mut diffs = Vec::new();
    for (flags, script) in &probes {
        let run = |h: &Harness, id: &str, cg: &str| {
            let mut args = vec!["exec"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&[id, "sh", "-c", script]);
            let out = h.cmd(&args);
            (
                out.code,
                out.stdout.replace(cg, "<CG>"),
                out.stderr.replace(cg, "<CG>"),
            )
        };
        let ours = run(&s, &sc.id, &scg);
        let theirs = run(&r, &rc.id, &rcg);
        if ours != theirs {
            diffs.push(format!(
                "exec {flags:?} sh -c {script:?}:\n  sangja: {ours:?}\n  runc:   {theirs:?}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "sangja and runc disagree:\n{}",
        diffs.join("\n")
    );
}

/// runc refuses to exec into a paused container unless `--ignore-paused`; with it, the process is
/// created (frozen with the rest of the cgroup) and runs once the container resumes.
#[test]
fn exec_into_a_paused_container() {
    let h = harness!();
    let r = running(&h);
    let id = &r.c.id;
    h.cmd(&["pause", id]).ok();
    assert_eq!(h.status(id), "paused");
    assert_exec_error(
        &exec(&h, &[id, "true"]),
        "cannot exec in a paused container (use --ignore-paused to override)",
    );
    let out = exec(
        &h,
        &[
            "--ignore-paused",
            "-d",
            id,
            "sh",
            "-c",
            "echo resumed > /dev/shm/paused-exec",
        ],
    );
    out.ok();
    h.cmd(&["resume", id]).ok();
    assert_eq!(h.status(id), "running");
    let seen = host::wait_until(secs(10), || {
        exec(&h, &[id, "cat", "/dev/shm/paused-exec"]).stdout == "resumed\n"
    });
    assert!(seen, "the exec'd process never ran after resume");
}
