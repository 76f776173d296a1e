//! OCI hooks (runtime-spec "Lifecycle" and config.md "POSIX-platform Hooks"): the six kinds run at their
//! points of `create`, `start` and `delete`, in the right namespaces, each with the state JSON on stdin and
//! exactly its `args` and `env`; a failing or timed-out create-time hook fails `create` and leaves nothing
//! behind; failing poststart/poststop hooks only warn.
//!
//! The hooks are `/bin/sh -c` scripts that record what they see into a host temp dir: their stdin, their
//! mount and pid namespaces, their environment and argv (read from `/proc/self/…` through a redirection,
//! i.e. as the shell was executed, before it exports anything of its own) and their name into a shared
//! `order` file. createContainer still sees host paths (it runs before `pivot_root`); startContainer runs
//! in the container, so the dir is also bind-mounted at `/mnt/a`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spec_tests::host::{ns_id, wait_until};
use spec_tests::{assert_nothing_left, harness, runc_harness, secs, Bundle, Harness};

/// The six kinds in lifecycle order.
const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Where the container sees the record dir.
const IN_CONTAINER: &str = "/mnt/a";

/// The environment every recording hook gets: spaces, `=` in a value, an empty value.
fn hook_env(kind: &str) -> Vec<String> {
    vec![
        format!("HOOK_KIND={kind}"),
        "SPACED=a b  c".into(),
        "EQUALS=x=y".into(),
        "EMPTY=".into(),
    ]
}

/// A hook running `/bin/sh -c script` with argv[0] `sh` (not the path: that would hide a runtime that
/// ignores `args[0]`).
fn sh_hook(script: &str, env: &[String], timeout: Option<u64>) -> Value {
    let mut h = json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", script],
        "env": env,
    });
    if let Some(t) = timeout {
        h["timeout"] = json!(t);
    }
    h
}

/// The recording script of `kind`, writing into `dir` (as the hook sees it).
fn record_script(kind: &str, dir: &str) -> String {
    format!(
        "d={dir}; k={kind}; cat > $d/$k.stdin; \
         readlink /proc/self/ns/mnt > $d/$k.mnt; readlink /proc/self/ns/pid > $d/$k.pidns; \
         tr '\\0' '\\n' < /proc/self/environ > $d/$k.env; \
         tr '\\0' '\\n' < /proc/self/cmdline > $d/$k.argv; \
         echo $k >> $d/order"
    )
}

/// The recording hook of `kind` (`dir` as the hook sees it).
fn recorder(kind: &str, dir: &str) -> Value {
    sh_hook(&record_script(kind, dir), &hook_env(kind), Some(10))
}

/// Lines of a file written by a hook ("" if it does not exist yet).
fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_default()
}

fn order(dir: &Path) -> Vec<String> {
    read(dir, "order").lines().map(String::from).collect()
}

/// What one recording hook saw.
#[derive(Debug, Clone, Default)]
struct Seen {
    stdin: Value,
    mnt: String,
    pidns: String,
    env: Vec<String>,
    argv: Vec<String>,
}

fn seen(dir: &Path, kind: &str) -> Seen {
    let stdin = read(dir, &format!("{kind}.stdin"));
    Seen {
        stdin: serde_json::from_str(&stdin)
            .unwrap_or_else(|e| panic!("{kind} hook's stdin is not JSON ({e}): {stdin:?}")),
        mnt: read(dir, &format!("{kind}.mnt")).trim().to_string(),
        pidns: read(dir, &format!("{kind}.pidns")).trim().to_string(),
        env: read(dir, &format!("{kind}.env"))
            .lines()
            .map(String::from)
            .collect(),
        argv: read(dir, &format!("{kind}.argv"))
            .lines()
            .map(String::from)
            .collect(),
    }
}

/// One full lifecycle with a recording hook of every kind.
#[derive(Debug)]
struct Lifecycle {
    id: String,
    bundle: PathBuf,
    /// Init pid (host view), read with `state` after `create`.
    pid: i64,
    /// The container's mount and pid namespaces (of the init, after `create`).
    ctr_mnt: String,
    ctr_pidns: String,
    /// `order` after create, after start (once the process printed), after delete.
    after_create: Vec<String>,
    after_start: Vec<String>,
    after_delete: Vec<String>,
    /// The container's stdout.
    output: String,
    /// The hooks as configured, by kind.
    given: BTreeMap<&'static str, Value>,
    /// What each hook recorded, by kind.
    seen: BTreeMap<&'static str, Seen>,
}

const ANNOTATION: (&str, &str) = ("org.example.hooks", "recorded");

/// Runs create, start, kill, delete with a recorder of every kind; the process prints `main` and sleeps.
fn record_lifecycle(h: &Harness) -> Lifecycle {
    let dir = h.tempdir("hooks");
    let host_dir = dir.to_str().expect("UTF-8 temp dir").to_string();
    let mut b = h.bundle();
    b.args(&["sh", "-c", "echo main; exec sleep 30"]);
    b.add_mount(json!({
        "destination": IN_CONTAINER, "type": "bind", "source": host_dir, "options": ["rbind", "rw"],
    }));
    b.set("/annotations", json!({ ANNOTATION.0: ANNOTATION.1 }));
    let mut given = BTreeMap::new();
    for kind in KINDS {
        let at = if kind == "startContainer" {
            sh_hook(
                &format!(
                    "echo startContainer-on-stdout; {}",
                    record_script(kind, IN_CONTAINER)
                ),
                &hook_env(kind),
                Some(10),
            )
        } else {
            recorder(kind, &host_dir)
        };
        b.push(&format!("/hooks/{kind}"), at.clone());
        given.insert(kind, at);
    }
    let c = h.create(&b);
    let after_create = order(&dir);
    let pid = h.pid(&c.id);
    let ctr_mnt = ns_id(&pid.to_string(), "mnt");
    let ctr_pidns = ns_id(&pid.to_string(), "pid");
    h.cmd(&["start", &c.id]).ok();
    assert!(
        wait_until(secs(10), || c.output().contains("main")
            && order(&dir).len() >= 5),
        "the process did not start or startContainer/poststart were not recorded: output {:?}, order {:?}",
        c.output(),
        order(&dir)
    );
    let after_start = order(&dir);
    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    h.cmd(&["delete", &c.id]).ok();
    let after_delete = order(&dir);
    let seen = KINDS
        .iter()
        .filter(|k| dir.join(format!("{k}.stdin")).exists())
        .map(|k| (*k, seen(&dir, k)))
        .collect();
    Lifecycle {
        id: c.id.clone(),
        bundle: b.dir.clone(),
        pid,
        ctr_mnt,
        ctr_pidns,
        after_create,
        after_start,
        after_delete,
        output: c.output(),
        given,
        seen,
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The status each kind must see (runtime-spec "Lifecycle").
fn want_status(kind: &str) -> &'static str {
    match kind {
        "prestart" | "createRuntime" | "createContainer" => "creating",
        "startContainer" => "created",
        "poststart" => "running",
        _ => "stopped",
    }
}

/// Kinds that run in the container's namespaces.
fn in_container(kind: &str) -> bool {
    matches!(kind, "createContainer" | "startContainer")
}

#[test]
fn every_kind_runs_once_at_its_point_with_the_state_on_stdin() {
    let h = harness!();
    let l = record_lifecycle(&h);
    assert_eq!(
        l.after_create,
        strs(&["prestart", "createRuntime", "createContainer"]),
        "hooks run by create"
    );
    assert_eq!(
        sorted(l.after_start[3..].to_vec()),
        sorted(strs(&["startContainer", "poststart"])),
        "hooks run by start: {:?}",
        l.after_start
    );
    assert_eq!(
        l.after_delete,
        [l.after_start.clone(), strs(&["poststop"])].concat(),
        "delete runs poststop, last"
    );
    let bundle = l.bundle.to_str().expect("UTF-8 bundle");
    for kind in KINDS {
        let s = &l.seen[kind];
        let st = &s.stdin;
        assert_eq!(st["id"], l.id.as_str(), "{kind}: id in {st}");
        assert_eq!(st["bundle"], bundle, "{kind}: bundle in {st}");
        assert_eq!(st["ociVersion"], "1.0.2-dev", "{kind}: ociVersion in {st}");
        assert_eq!(st["status"], want_status(kind), "{kind}: status in {st}");
        assert_eq!(
            st["annotations"][ANNOTATION.0], ANNOTATION.1,
            "{kind}: annotations in {st}"
        );
        if kind == "poststop" {
            // The process is gone: pid is optional for a stopped container (runc omits it).
            assert!(
                st.get("pid").is_none_or(|p| p == 0),
                "{kind}: pid of a stopped container in {st}"
            );
        } else {
            assert_eq!(
                st["pid"], l.pid,
                "{kind}: pid (as seen by the host) in {st}"
            );
        }
    }
    // startContainer's stdout is the container's stdout, and it runs before the process.
    assert_eq!(
        l.output, "startContainer-on-stdout\nmain\n",
        "container stdout"
    );
}

#[test]
fn hooks_run_in_the_prescribed_namespaces() {
    let h = harness!();
    let l = record_lifecycle(&h);
    let host_mnt = ns_id("self", "mnt");
    let host_pid = ns_id("self", "pid");
    assert_ne!(l.ctr_mnt, host_mnt, "the container has its own mount ns");
    assert_ne!(l.ctr_pidns, host_pid, "the container has its own pid ns");
    for kind in KINDS {
        let s = &l.seen[kind];
        let (mnt, pidns, place) = if in_container(kind) {
            (&l.ctr_mnt, &l.ctr_pidns, "the container's")
        } else {
            (&host_mnt, &host_pid, "the runtime's (host)")
        };
        assert_eq!(&s.mnt, mnt, "{kind} must run in {place} mount namespace");
        assert_eq!(&s.pidns, pidns, "{kind} must run in {place} pid namespace");
    }
}

#[test]
fn hooks_get_exactly_their_args_and_env() {
    let h = harness!();
    let l = record_lifecycle(&h);
    for kind in KINDS {
        let s = &l.seen[kind];
        // Order is not part of environ's semantics; content is, and nothing may be added.
        assert_eq!(
            sorted(s.env.clone()),
            sorted(hook_env(kind)),
            "{kind}: environment must be exactly the hook's env"
        );
        // args[0] is "sh", not the path "/bin/sh": argv[0] must come from args, not the path.
        let args: Vec<String> =
            serde_json::from_value(l.given[kind]["args"].clone()).expect("args are strings");
        assert_eq!(s.argv, args, "{kind}: argv must be exactly the hook's args");
    }
}

/// A hook that fails: exit 3, "nope" on stderr.
fn failing_hook() -> Value {
    sh_hook("echo nope >&2; exit 3", &[], None)
}

/// `create` with one hook of `kind` must fail with one line naming the kind, and leave nothing behind.
#[track_caller]
fn create_fails_with_hook(h: &Harness, b: &mut Bundle, kind: &str, hook: Value) -> String {
    b.args(&["true"]);
    b.push(&format!("/hooks/{kind}"), hook);
    let id = h.id();
    let (out, _) = h.try_create(b, &id, &[]);
    out.assert_error(kind);
    assert_nothing_left(h, &id, b);
    out.stderr.clone()
}

#[test]
fn failing_create_runtime_hook_fails_create() {
    let h = harness!();
    let mut b = h.bundle();
    let err = create_fails_with_hook(&h, &mut b, "createRuntime", failing_hook());
    assert!(err.contains("nope"), "the hook's stderr is reported: {err}");
}

#[test]
fn failing_prestart_hook_fails_create() {
    let h = harness!();
    let mut b = h.bundle();
    let err = create_fails_with_hook(&h, &mut b, "prestart", failing_hook());
    assert!(err.contains("nope"), "the hook's stderr is reported: {err}");
}

#[test]
fn failing_create_container_hook_fails_create() {
    let h = harness!();
    let mut b = h.bundle();
    let err = create_fails_with_hook(&h, &mut b, "createContainer", failing_hook());
    assert!(err.contains("nope"), "the hook's stderr is reported: {err}");
}

#[test]
fn a_failing_hook_stops_the_later_hooks() {
    let h = harness!();
    let dir = h.tempdir("hooks");
    let host_dir = dir.to_str().expect("UTF-8").to_string();
    let mut b = h.bundle();
    b.push("/hooks/createRuntime", failing_hook());
    b.push("/hooks/createRuntime", recorder("createRuntime", &host_dir));
    b.push(
        "/hooks/createContainer",
        recorder("createContainer", &host_dir),
    );
    create_fails_with_hook(&h, &mut b, "createRuntime", recorder("never", &host_dir));
    assert_eq!(
        order(&dir),
        Vec::<String>::new(),
        "no hook after the failing one runs"
    );
}

/// A hook that would sleep 300 s, with `timeout: 1`, fails `create` long before it would have ended (the
/// bound, 30 s, is the subject and leaves a wide margin over the configured second on a loaded machine).
fn times_out(h: &Harness, kind: &str) {
    let mut b = h.bundle();
    let t0 = Instant::now();
    // `exec`: the hook process is the sleep, so the kill ends it (no sleeping grandchild left behind).
    create_fails_with_hook(h, &mut b, kind, sh_hook("exec sleep 300", &[], Some(1)));
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "{kind} hook with timeout 1 took {took:?} to fail create"
    );
}

#[test]
fn create_runtime_hook_timeout_fails_create_quickly() {
    times_out(&harness!(), "createRuntime");
}

#[test]
fn create_container_hook_timeout_fails_create_quickly() {
    times_out(&harness!(), "createContainer");
}

#[test]
fn failing_poststart_hook_warns_and_start_succeeds() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    b.push("/hooks/poststart", failing_hook());
    let c = h.create(&b);
    let out = h.cmd(&["start", &c.id]);
    out.ok();
    assert!(
        out.stderr.contains("poststart") && out.stderr.contains("nope"),
        "start warns about the failed poststart hook:\n{out}"
    );
    assert_eq!(h.status(&c.id), "running");
}

#[test]
fn failing_poststop_hook_warns_and_delete_removes_the_container() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["true"]);
    b.push("/hooks/poststop", failing_hook());
    let c = h.create_and_start(&b);
    h.wait_status(&c.id, "stopped", secs(10));
    let out = h.cmd(&["delete", &c.id]);
    out.ok();
    assert!(
        out.stderr.contains("poststop") && out.stderr.contains("nope"),
        "delete warns about the failed poststop hook:\n{out}"
    );
    h.cmd(&["state", &c.id])
        .assert_error("container does not exist");
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn relative_hook_path_is_refused() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["true"]);
    b.push("/hooks/createRuntime", json!({"path": "bin/true"}));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.assert_error("hooks.createRuntime[0].path");
    assert_nothing_left(&h, &id, &b);
}

/// runtime-spec: startContainer runs before the user process, poststart after it started and before
/// `start` returns. A slow startContainer hook shows whether `start` waits for them.
#[test]
fn start_returns_after_start_container_and_poststart() {
    let h = harness!();
    let dir = h.tempdir("hooks");
    let host_dir = dir.to_str().expect("UTF-8").to_string();
    let mut b = h.bundle();
    b.args(&["sh", "-c", "echo main >> /mnt/a/order; exec sleep 30"]);
    b.add_mount(json!({
        "destination": IN_CONTAINER, "type": "bind", "source": host_dir, "options": ["rbind", "rw"],
    }));
    b.push(
        "/hooks/startContainer",
        sh_hook("sleep 1; echo startContainer >> /mnt/a/order", &[], None),
    );
    b.push(
        "/hooks/poststart",
        sh_hook(&format!("echo poststart >> {host_dir}/order"), &[], None),
    );
    let c = h.create(&b);
    h.cmd(&["start", &c.id]).ok();
    // When `start` returns, startContainer has finished and poststart has run; the process has
    // been exec'd, but whether its first write beat poststart is up to the scheduler.
    let seen = order(&dir);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("startContainer"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s == "poststart"),
        "start returned before poststart: {seen:?}"
    );
    assert!(
        wait_until(secs(5), || order(&dir).iter().any(|s| s == "main")),
        "the process never ran"
    );
    assert_eq!(
        order(&dir).len(),
        3,
        "startContainer, the process and poststart each ran once"
    );
}

/// The same lifecycle under runc: where both agree with the spec they must agree with each other; runc
/// 1.1.5's known deviations are printed, not asserted.
#[test]
fn runc_agrees_on_namespaces_env_and_create_time_state() {
    let s = harness!();
    let r = runc_harness!();
    let ours = record_lifecycle(&s);
    let theirs = record_lifecycle(&r);
    // runc 1.1.5 also runs poststart during create (fixed in runc 1.2): compare the first three.
    assert_eq!(
        ours.after_create[..3],
        theirs.after_create[..3],
        "create-time order"
    );
    let host_mnt = ns_id("self", "mnt");
    for kind in KINDS {
        let (o, t) = (&ours.seen[kind], &theirs.seen[kind]);
        assert_eq!(
            sorted(o.env.clone()),
            sorted(t.env.clone()),
            "{kind}: environment"
        );
        // The scripts name different temp dirs: compare argv[0] and argv[1].
        assert_eq!(o.argv[..2], t.argv[..2], "{kind}: argv");
        assert_eq!(
            o.mnt == host_mnt,
            t.mnt == host_mnt,
            "{kind}: host mount namespace or not"
        );
        for key in ["ociVersion", "annotations"] {
            assert_eq!(o.stdin[key], t.stdin[key], "{kind}: {key}");
        }
        // The init's host pid differs between the runs: compare "is the init's host pid" instead.
        let pid = |l: &Lifecycle, v: &Value| {
            if v.as_i64() == Some(l.pid) {
                json!("<init pid, host view>")
            } else {
                v.clone()
            }
        };
        let (op, tp) = (pid(&ours, &o.stdin["pid"]), pid(&theirs, &t.stdin["pid"]));
        if o.stdin["status"] != t.stdin["status"] || op != tp {
            eprintln!(
                "{kind}: differs from runc: status sangja {} / runc {}; pid sangja {op} / runc {tp}",
                o.stdin["status"], t.stdin["status"]
            );
        }
        if o.env != t.env {
            eprintln!("{kind}: env order sangja {:?} / runc {:?}", o.env, t.env);
        }
    }
    if ours.after_start != theirs.after_start {
        eprintln!(
            "order after start: sangja {:?} / runc {:?}",
            ours.after_start, theirs.after_start
        );
    }
}

/// A hook without `env` gets runc's environment: the runtime's own for the hooks it runs itself
/// (createRuntime, poststart, poststop), the container process's for createContainer (and
/// startContainer); `env: []` gets none. The host-side hooks run in the bundle directory, the
/// createContainer hook in the container's rootfs. The same against runc.
#[test]
fn hooks_without_env_get_runcs_environment_and_directory() {
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let rec = h.tempdir("rec");
        let r = rec.to_str().unwrap().to_string();
        let mut b = h.bundle_private();
        b.set(
            "/process/env",
            json!(["PATH=/bin:/usr/bin", "FROM_PROCESS=yes"]),
        );
        b.args(&["true"]);
        let script = |k: &str| format!("{{ pwd; tr '\\0' '\\n' < /proc/self/environ; }} > {r}/{k}");
        let no_env = |k: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", script(k)]});
        b.set(
            "/hooks",
            json!({
                "createRuntime": [no_env("createRuntime"),
                    {"path": "/bin/sh", "args": ["sh", "-c", script("empty")], "env": []}],
                "createContainer": [no_env("createContainer")],
                "poststop": [no_env("poststop")],
            }),
        );
        let out = h.run_with(&b, &["--no-new-keyring"]);
        out.ok();
        let name = h.bin().display();
        let lines = |k: &str| {
            read(&rec, k)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let bundle = fs::canonicalize(&b.dir).unwrap();
        let rootfs = fs::canonicalize(b.rootfs()).unwrap();
        for k in ["createRuntime", "poststop"] {
            let l = lines(k);
            assert_eq!(
                l.first().map(PathBuf::from),
                Some(bundle.clone()),
                "{name} {k}: {l:?}"
            );
            assert!(
                l.iter().any(|e| e.starts_with("PATH=")),
                "{name} {k}: the runtime's env: {l:?}"
            );
            assert!(
                !l.iter().any(|e| e == "FROM_PROCESS=yes"),
                "{name} {k}: {l:?}"
            );
        }
        let l = lines("createContainer");
        assert_eq!(
            l.first().map(PathBuf::from),
            Some(rootfs),
            "{name} createContainer: {l:?}"
        );
        assert!(
            l.iter().any(|e| e == "FROM_PROCESS=yes"),
            "{name} createContainer: {l:?}"
        );
        let l = lines("empty");
        assert!(
            l.iter()
                .skip(1)
                .all(|e| e.is_empty() || e.starts_with("PWD=")),
            "{name}: env [] is empty: {l:?}"
        );
    }
}
