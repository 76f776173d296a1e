//! Every field of runtime-spec 1.3's config.json, walked: each one is applied (the container
//! shows it) or refused naming the field, and a few that runc ignores too are accepted with a
//! warning naming them. None is accepted and dropped. The list of fields comes from the spec's
//! JSON schema (`spec-tests/data/runtime-spec-1.3.0-fields.txt`); a field without a case fails
//! the walk, so a new spec version's fields cannot slip through.
//!
//! Which outcome a field has can depend on the host (a controller, an LSM, BFQ, swap
//! accounting): such a case allows more than one, and the walk prints what happened here.
//! Hooks, terminals, namespaces, annotations, seccomp and `update` need more than one command to
//! show, and live in `fields/checks.rs`.
#![allow(clippy::unwrap_used)]

mod checks;

use std::collections::BTreeSet;

use serde_json::json;
use spec_tests::{assert_nothing_left, harness, Bundle, Harness};

/// What a field did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The container shows it.
    Applied,
    /// Create failed naming the field, leaving nothing.
    Refused,
    /// The container ran with a warning naming the field (the field is for another platform or
    /// no longer does anything in Linux; runc ignores it too).
    Warned,
}
use Outcome::{Applied, Refused, Warned};

/// One case: the fields it covers, how the bundle is changed, and how it is checked.
struct Case {
    fields: &'static [&'static str],
    set: fn(&mut Bundle),
    check: Check,
}

enum Check {
    /// Runs `sh -c script` (with [`CG`] defined) and sees its output: `want` is the output with
    /// whitespace collapsed, `a|b` either, `~x` one containing x. `field` is what an error or
    /// warning must name; `allowed` the outcomes this field may have on a host of our kind.
    Sh {
        script: &'static str,
        want: &'static str,
        field: &'static str,
        allowed: &'static [Outcome],
    },
    /// A check of its own, returning the outcome and what it saw.
    Code(fn(&Harness) -> (Outcome, String)),
}

/// `cg FILE...`: the first of the files that exists in the container's cgroup (v1 hierarchies,
/// the hybrid unified mount or a v2 root), printed.
const CG: &str = "cg() { for f in \"$@\"; do for d in /sys/fs/cgroup /sys/fs/cgroup/*; do \
    if [ -f \"$d/$f\" ]; then cat \"$d/$f\"; return; fi; done; done; echo missing; }; ";

const ONLY: &[Outcome] = &[Applied];
const NEVER: &[Outcome] = &[Refused];
const HOST: &[Outcome] = &[Applied, Refused];
const ANY: &[Outcome] = &[Applied, Refused, Warned];

const fn sh(script: &'static str, want: &'static str, field: &'static str) -> Check {
    Check::Sh {
        script,
        want,
        field,
        allowed: ONLY,
    }
}
const fn host(script: &'static str, want: &'static str, field: &'static str) -> Check {
    Check::Sh {
        script,
        want,
        field,
        allowed: HOST,
    }
}
const fn any(script: &'static str, want: &'static str, field: &'static str) -> Check {
    Check::Sh {
        script,
        want,
        field,
        allowed: ANY,
    }
}
const fn refused(field: &'static str) -> Check {
    Check::Sh {
        script: "true",
        want: "",
        field,
        allowed: NEVER,
    }
}
const fn warned(field: &'static str) -> Check {
    Check::Sh {
        script: "echo ran",
        want: "ran",
        field,
        allowed: &[Warned],
    }
}

fn res(b: &mut Bundle, pointer: &str, v: serde_json::Value) {
    b.set(&format!("/linux/resources/{pointer}"), v);
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { fields: &["ociVersion"], set: |_| {}, check: Check::Code(checks::version) },
    Case { fields: &["hooks.prestart[].path", "hooks.prestart[].args", "hooks.prestart[].env",
        "hooks.createRuntime[].path", "hooks.createRuntime[].args", "hooks.createRuntime[].env",
        "hooks.createContainer[].path", "hooks.createContainer[].args", "hooks.createContainer[].env",
        "hooks.startContainer[].path", "hooks.startContainer[].args", "hooks.startContainer[].env",
        "hooks.poststart[].path", "hooks.poststart[].args", "hooks.poststart[].env",
        "hooks.poststop[].path", "hooks.poststop[].args", "hooks.poststop[].env"],
        set: |_| {}, check: Check::Code(checks::hooks) },
    Case { fields: &["hooks.prestart[].timeout", "hooks.createRuntime[].timeout",
        "hooks.createContainer[].timeout", "hooks.startContainer[].timeout",
        "hooks.poststart[].timeout", "hooks.poststop[].timeout"],
        set: |_| {}, check: Check::Code(checks::hook_timeouts) },
    Case { fields: &["annotations.<key>"], set: |_| {}, check: Check::Code(checks::annotations) },
    Case { fields: &["hostname"], set: |b| { b.set("/hostname", json!("fields-host")); },
        check: sh("hostname", "fields-host", "hostname") },
    Case { fields: &["domainname"], set: |b| { b.set("/domainname", json!("fields.example")); },
        check: sh("cat /proc/sys/kernel/domainname", "fields.example", "domainname") },
    Case { fields: &["mounts[].source", "mounts[].destination", "mounts[].options", "mounts[].type"],
        set: |b| {
            b.add_mount(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                "options": ["size=1m", "mode=750", "noexec"]}));
            let dir = b.dir_str().to_string();
            b.add_mount(json!({"destination": "/mnt/b", "type": "bind", "source": dir,
                "options": ["rbind", "ro"]}));
        },
        check: sh("stat -c %a /mnt/t; grep -c ' /mnt/t tmpfs .*noexec' /proc/mounts; \
            df -k /mnt/t | awk 'NR==2 {print $2}'; test -f /mnt/b/config.json && echo bound; \
            touch /mnt/b/x 2>/dev/null || echo ro", "750 1 1024 bound ro", "mounts") },
    Case { fields: &["mounts[].uidMappings[].containerID", "mounts[].uidMappings[].hostID",
        "mounts[].uidMappings[].size", "mounts[].gidMappings[].containerID",
        "mounts[].gidMappings[].hostID", "mounts[].gidMappings[].size"],
        set: |b| {
            let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            b.push("/linux/namespaces", json!({"type": "user"}));
            b.set("/linux/uidMappings", map.clone());
            b.set("/linux/gidMappings", map);
            let dir = b.dir_str().to_string();
            // The bundle's files (the host's root's) appear as container uid 7, gid 9 (at a
            // mount point the image has: the mapped root may not make one in it).
            b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": dir,
                "options": ["rbind"], "uidMappings": [{"containerID": 0, "hostID": 100007, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 100009, "size": 1}]}));
        },
        check: sh("stat -c '%u %g' /mnt/config.json", "7 9", "mounts[7].uidMappings") },
    Case { fields: &["root.path", "root.readonly"], set: |b| { b.set("/root/readonly", json!(true)); },
        check: sh("test -x /bin/busybox && echo rootfs; touch /x 2>/dev/null || echo ro",
            "rootfs ro", "root") },
    Case { fields: &["process.args"], set: |_| {}, check: sh("echo \"$0\"", "sh", "process.args") },
    Case { fields: &["process.commandLine"],
        set: |b| { b.set("/process/commandLine", json!("echo windows")); },
        check: warned("process.commandLine") },
    Case { fields: &["process.terminal", "process.consoleSize.height", "process.consoleSize.width"],
        set: |_| {}, check: Check::Code(checks::terminal) },
    Case { fields: &["process.cwd"], set: |b| { b.set("/process/cwd", json!("/etc")); },
        check: sh("pwd", "/etc", "process.cwd") },
    Case { fields: &["process.env"], set: |b| { b.push("/process/env", json!("FIELD_ENV=x y")); },
        check: sh("echo \"$FIELD_ENV\"", "x y", "process.env") },
    Case { fields: &["process.user.uid", "process.user.gid", "process.user.additionalGids"],
        set: |b| { b.set("/process/user", json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]})); },
        check: sh("id -u; id -g; id -G", "1000 1001 1001 10 20", "process.user") },
    Case { fields: &["process.user.umask"],
        set: |b| { b.set("/process/user/umask", json!(0o27)); },
        check: sh("umask", "0027", "process.user.umask") },
    Case { fields: &["process.user.username"],
        set: |b| { b.set("/process/user/username", json!("someone")); },
        check: warned("process.user.username") },
    Case { fields: &["process.capabilities.bounding", "process.capabilities.permitted",
        "process.capabilities.effective", "process.capabilities.inheritable",
        "process.capabilities.ambient"],
        set: |b| {
            b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
            b.set("/process/capabilities", json!({"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"],
                "permitted": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"],
                "inheritable": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_KILL"]}));
        },
        // uid 1000 and a program without file capabilities: execve keeps the inheritable and
        // bounding sets and derives permitted and effective from the ambient one (as runc).
        check: sh("grep ^Cap /proc/self/status",
            "CapInh: 0000000000000021 CapPrm: 0000000000000020 CapEff: 0000000000000020 \
             CapBnd: 00000000000000a1 CapAmb: 0000000000000020", "process.capabilities") },
    // What the init holds before execve: an effective set beyond the permitted one is refused.
    Case { fields: &["process.capabilities.permitted", "process.capabilities.effective"],
        set: |b| { b.set("/process/capabilities", json!({"bounding": ["CAP_KILL"], "permitted": [],
            "effective": ["CAP_KILL"]})); },
        check: refused("process.capabilities") },
    Case { fields: &["process.apparmorProfile"],
        set: |b| { b.set("/process/apparmorProfile", json!("unconfined")); },
        check: host("cat /proc/self/attr/apparmor/current", "unconfined", "process.apparmorProfile") },
    Case { fields: &["process.selinuxLabel"],
        set: |b| { b.set("/process/selinuxLabel", json!("system_u:system_r:container_t:s0")); },
        check: host("cat /proc/self/attr/current", "~container_t", "process.selinuxLabel") },
    Case { fields: &["linux.mountLabel"],
        set: |b| { b.set("/linux/mountLabel", json!("system_u:object_r:container_file_t:s0")); },
        check: host("grep -c container_file_t /proc/mounts", "~", "linux.mountLabel") },
    Case { fields: &["process.oomScoreAdj"], set: |b| { b.set("/process/oomScoreAdj", json!(123)); },
        check: sh("cat /proc/self/oom_score_adj", "123", "process.oomScoreAdj") },
    Case { fields: &["process.ioPriority.class", "process.ioPriority.priority"],
        set: |b| { b.set("/process/ioPriority", json!({"class": "IOPRIO_CLASS_BE", "priority": 3})); },
        check: refused("process.ioPriority") },
    Case { fields: &["process.noNewPrivileges"], set: |b| { b.set("/process/noNewPrivileges", json!(true)); },
        check: sh("grep NoNewPrivs /proc/self/status", "NoNewPrivs: 1", "process.noNewPrivileges") },
    Case { fields: &["process.scheduler.policy", "process.scheduler.nice", "process.scheduler.priority",
        "process.scheduler.flags", "process.scheduler.runtime", "process.scheduler.deadline",
        "process.scheduler.period"],
        set: |b| { b.set("/process/scheduler", json!({"policy": "SCHED_OTHER", "nice": 5})); },
        check: refused("process.scheduler") },
    Case { fields: &["process.rlimits[].type", "process.rlimits[].soft", "process.rlimits[].hard"],
        set: |b| { b.set("/process/rlimits", json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])); },
        check: sh("grep 'open files' /proc/self/limits | awk '{print $4, $5}'", "100 200", "process.rlimits") },
    Case { fields: &["process.execCPUAffinity.initial", "process.execCPUAffinity.final"],
        set: |b| { b.set("/process/execCPUAffinity", json!({"initial": "0", "final": "0"})); },
        check: refused("process.execCPUAffinity") },
    Case { fields: &["linux.devices[].type", "linux.devices[].path", "linux.devices[].fileMode",
        "linux.devices[].major", "linux.devices[].minor", "linux.devices[].uid", "linux.devices[].gid"],
        set: |b| { b.set("/linux/devices", json!([{"path": "/dev/fields-zero", "type": "c", "major": 1,
            "minor": 5, "fileMode": 0o640, "uid": 1000, "gid": 1001}])); },
        check: sh("stat -c '%F %t %T %a %u %g' /dev/fields-zero",
            "character special file 1 5 640 1000 1001", "linux.devices") },
    Case { fields: &["linux.netDevices.<key>.name"],
        set: |b| { b.set("/linux/netDevices", json!({"dummy0": {"name": "eth1"}})); },
        check: refused("linux.netDevices") },
    Case { fields: &["linux.uidMappings[].containerID", "linux.uidMappings[].hostID", "linux.uidMappings[].size",
        "linux.gidMappings[].containerID", "linux.gidMappings[].hostID", "linux.gidMappings[].size"],
        set: |b| {
            b.push("/linux/namespaces", json!({"type": "user"}));
            b.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 1000},
                {"containerID": 1000, "hostID": 300000, "size": 1}]));
            b.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 210000, "size": 65536}]));
        },
        check: sh("cat /proc/self/uid_map /proc/self/gid_map",
            "0 200000 1000 1000 300000 1 0 210000 65536", "linux.uidMappings") },
    Case { fields: &["linux.namespaces[].type", "linux.namespaces[].path"], set: |_| {},
        check: Check::Code(checks::namespaces) },
    Case { fields: &["linux.resources.unified.<key>"],
        set: |b| res(b, "unified", json!({"pids.max": "42"})),
        check: host("cg pids.max", "42", "linux.resources.unified") },
    Case { fields: &["linux.resources.devices[].allow", "linux.resources.devices[].type",
        "linux.resources.devices[].major", "linux.resources.devices[].minor",
        "linux.resources.devices[].access"],
        set: |b| {
            b.set("/linux/devices", json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]));
            res(b, "devices", json!([{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]));
        },
        // Opening either for writing needs no capability: only the device rules decide.
        check: sh(": > /dev/kmsg && echo kmsg-opened; (: > /dev/fuse) 2>&1 | grep -c 'not permitted'",
            "kmsg-opened 1", "linux.resources.devices") },
    Case { fields: &["linux.resources.pids.limit"], set: |b| res(b, "pids", json!({"limit": 42})),
        check: sh("cg pids.max", "42", "linux.resources.pids.limit") },
    Case { fields: &["linux.resources.blockIO.weight"], set: |b| res(b, "blockIO", json!({"weight": 300})),
        check: host("cg blkio.weight blkio.bfq.weight io.bfq.weight", "~300", "linux.resources.blockIO.weight") },
    Case { fields: &["linux.resources.blockIO.leafWeight"],
        set: |b| res(b, "blockIO", json!({"leafWeight": 300})),
        check: host("cg blkio.leaf_weight", "~300", "linux.resources.blockIO.leafWeight") },
    Case { fields: &["linux.resources.blockIO.weightDevice[].major",
        "linux.resources.blockIO.weightDevice[].minor", "linux.resources.blockIO.weightDevice[].weight",
        "linux.resources.blockIO.weightDevice[].leafWeight",
        "linux.resources.blockIO.throttleReadBpsDevice[].major",
        "linux.resources.blockIO.throttleReadBpsDevice[].minor",
        "linux.resources.blockIO.throttleReadBpsDevice[].rate",
        "linux.resources.blockIO.throttleWriteBpsDevice[].major",
        "linux.resources.blockIO.throttleWriteBpsDevice[].minor",
        "linux.resources.blockIO.throttleWriteBpsDevice[].rate",
        "linux.resources.blockIO.throttleReadIOPSDevice[].major",
        "linux.resources.blockIO.throttleReadIOPSDevice[].minor",
        "linux.resources.blockIO.throttleReadIOPSDevice[].rate",
        "linux.resources.blockIO.throttleWriteIOPSDevice[].major",
        "linux.resources.blockIO.throttleWriteIOPSDevice[].minor",
        "linux.resources.blockIO.throttleWriteIOPSDevice[].rate"],
        set: |_| {}, check: Check::Code(checks::block_devices) },
    Case { fields: &["linux.resources.cpu.cpus", "linux.resources.cpu.mems"],
        set: |b| res(b, "cpu", json!({"cpus": "0", "mems": "0"})),
        check: sh("cg cpuset.cpus; cg cpuset.mems", "0 0", "linux.resources.cpu") },
    Case { fields: &["linux.resources.cpu.period", "linux.resources.cpu.quota"],
        set: |b| res(b, "cpu", json!({"quota": 20000, "period": 100000})),
        check: sh("if [ -f /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/cpu.max; \
            else cg cpu.cfs_quota_us; cg cpu.cfs_period_us; fi", "20000 100000", "linux.resources.cpu") },
    Case { fields: &["linux.resources.cpu.burst"],
        set: |b| res(b, "cpu", json!({"quota": 20000, "period": 100000, "burst": 1000})),
        check: host("cg cpu.cfs_burst_us cpu.max.burst", "1000", "linux.resources.cpu.burst") },
    Case { fields: &["linux.resources.cpu.realtimePeriod", "linux.resources.cpu.realtimeRuntime"],
        set: |b| {
            // A direct child of the root, which has realtime budget to give (/sangja has none).
            b.set("/linux/cgroupsPath", json!("/sangja-fields-rt"));
            res(b, "cpu", json!({"realtimePeriod": 1000000, "realtimeRuntime": 1000}));
        },
        check: host("cg cpu.rt_period_us; cg cpu.rt_runtime_us", "1000000 1000", "linux.resources.cpu.realtime") },
    Case { fields: &["linux.resources.cpu.shares"], set: |b| res(b, "cpu", json!({"shares": 512})),
        check: sh("cg cpu.shares cpu.weight", "512|20", "linux.resources.cpu.shares") },
    Case { fields: &["linux.resources.cpu.idle"], set: |b| res(b, "cpu", json!({"idle": 1})),
        check: host("cg cpu.idle", "1", "linux.resources.cpu.idle") },
    Case { fields: &["linux.resources.hugepageLimits[].pageSize", "linux.resources.hugepageLimits[].limit"],
        set: |b| res(b, "hugepageLimits", json!([{"pageSize": "2MB", "limit": 2097152}])),
        check: host("cg hugetlb.2MB.limit_in_bytes hugetlb.2MB.max", "2097152", "linux.resources.hugepageLimits") },
    Case { fields: &["linux.resources.memory.kernel"],
        set: |b| res(b, "memory", json!({"kernel": 33554432})),
        check: warned("linux.resources.memory.kernel") },
    Case { fields: &["linux.resources.memory.kernelTCP"],
        set: |b| res(b, "memory", json!({"kernelTCP": 16777216})),
        check: any("cg memory.kmem.tcp.limit_in_bytes", "16777216", "linux.resources.memory.kernelTCP") },
    Case { fields: &["linux.resources.memory.limit"], set: |b| res(b, "memory", json!({"limit": 67108864})),
        check: sh("cg memory.limit_in_bytes memory.max", "67108864", "linux.resources.memory.limit") },
    Case { fields: &["linux.resources.memory.reservation"],
        set: |b| res(b, "memory", json!({"reservation": 33554432})),
        check: sh("cg memory.soft_limit_in_bytes memory.low", "33554432", "linux.resources.memory.reservation") },
    Case { fields: &["linux.resources.memory.swap"],
        set: |b| res(b, "memory", json!({"limit": 67108864, "swap": 134217728})),
        // v1: memory + swap; cgroup2: swap alone.
        check: host("cg memory.memsw.limit_in_bytes memory.swap.max", "134217728|67108864",
            "linux.resources.memory.swap") },
    Case { fields: &["linux.resources.memory.swappiness"],
        set: |b| res(b, "memory", json!({"swappiness": 20})),
        check: any("cg memory.swappiness", "20", "linux.resources.memory.swappiness") },
    Case { fields: &["linux.resources.memory.disableOOMKiller"],
        set: |b| res(b, "memory", json!({"disableOOMKiller": true})),
        check: any("cg memory.oom_control", "~oom_kill_disable 1", "linux.resources.memory.disableOOMKiller") },
    Case { fields: &["linux.resources.memory.useHierarchy"],
        set: |b| res(b, "memory", json!({"useHierarchy": true})),
        check: any("cg memory.use_hierarchy", "1", "linux.resources.memory.useHierarchy") },
    Case { fields: &["linux.resources.memory.checkBeforeUpdate"], set: |_| {},
        check: Check::Code(checks::check_before_update) },
    Case { fields: &["linux.resources.network.classID"],
        set: |b| res(b, "network", json!({"classID": 1048577})),
        check: any("cg net_cls.classid", "1048577", "linux.resources.network.classID") },
    Case { fields: &["linux.resources.network.priorities[].name", "linux.resources.network.priorities[].priority"],
        set: |b| res(b, "network", json!({"priorities": [{"name": "lo", "priority": 3}]})),
        check: any("cg net_prio.ifpriomap", "~lo 3", "linux.resources.network.priorities") },
    Case { fields: &["linux.resources.rdma.<key>.hcaHandles", "linux.resources.rdma.<key>.hcaObjects"],
        set: |b| res(b, "rdma", json!({"mlx4_0": {"hcaHandles": 3, "hcaObjects": 100}})),
        check: host("cg rdma.max", "~hca_handle=3", "linux.resources.rdma") },
    Case { fields: &["linux.cgroupsPath"], set: |b| { b.set("/linux/cgroupsPath", json!("/sangja-fields-path")); },
        check: sh("grep -c ':/sangja-fields-path$' /proc/self/cgroup | sed 's/^[1-9][0-9]*$/in/'", "in",
            "linux.cgroupsPath") },
    Case { fields: &["linux.rootfsPropagation"],
        set: |b| { b.set("/linux/rootfsPropagation", json!("unbindable")); },
        check: sh("awk '$5 == \"/\" { for (i = 7; $i != \"-\"; i++) printf \"%s \", $i; print \"\" }' \
            /proc/self/mountinfo", "unbindable", "linux.rootfsPropagation") },
    Case { fields: &["linux.seccomp.defaultAction", "linux.seccomp.syscalls[].names",
        "linux.seccomp.syscalls[].action", "linux.seccomp.syscalls[].errnoRet",
        "linux.seccomp.syscalls[].args[].index", "linux.seccomp.syscalls[].args[].value",
        "linux.seccomp.syscalls[].args[].valueTwo", "linux.seccomp.syscalls[].args[].op",
        "linux.seccomp.architectures"],
        set: |_| {}, check: Check::Code(checks::seccomp_rules) },
    Case { fields: &["linux.seccomp.defaultErrnoRet"], set: |_| {},
        check: Check::Code(checks::seccomp_default_errno) },
    Case { fields: &["linux.seccomp.flags"], set: |_| {}, check: Check::Code(checks::seccomp_flags) },
    Case { fields: &["linux.seccomp.listenerPath", "linux.seccomp.listenerMetadata"], set: |_| {},
        check: Check::Code(checks::seccomp_listener) },
    Case { fields: &["linux.sysctl.<key>"], set: |b| { b.set("/linux/sysctl", json!({"kernel.shmmni": "1000"})); },
        check: sh("cat /proc/sys/kernel/shmmni", "1000", "linux.sysctl") },
    Case { fields: &["linux.maskedPaths"], set: |b| { b.set("/linux/maskedPaths", json!(["/etc/passwd"])); },
        check: sh("wc -c < /etc/passwd", "0", "linux.maskedPaths") },
    Case { fields: &["linux.readonlyPaths"],
        set: |b| {
            b.add_mount(json!({"destination": "/mnt/rw", "type": "tmpfs", "source": "tmpfs"}));
            b.set("/linux/readonlyPaths", json!(["/mnt/rw"]));
        },
        check: sh("touch /mnt/rw/x 2>/dev/null || echo ro", "ro", "linux.readonlyPaths") },
    Case { fields: &["linux.intelRdt.closID", "linux.intelRdt.schemata", "linux.intelRdt.l3CacheSchema",
        "linux.intelRdt.memBwSchema", "linux.intelRdt.enableMonitoring"],
        set: |b| { b.set("/linux/intelRdt", json!({"closID": "fields", "l3CacheSchema": "L3:0=f"})); },
        check: refused("linux.intelRdt") },
    Case { fields: &["linux.memoryPolicy.mode", "linux.memoryPolicy.nodes", "linux.memoryPolicy.flags"],
        set: |b| { b.set("/linux/memoryPolicy", json!({"mode": "MPOL_BIND", "nodes": "0"})); },
        check: refused("linux.memoryPolicy") },
    Case { fields: &["linux.personality.domain", "linux.personality.flags"],
        set: |b| { b.set("/linux/personality", json!({"domain": "LINUX"})); },
        check: refused("linux.personality") },
    Case { fields: &["linux.timeOffsets.boottime.secs", "linux.timeOffsets.boottime.nanosecs",
        "linux.timeOffsets.monotonic.secs", "linux.timeOffsets.monotonic.nanosecs"],
        set: |b| {
            b.push("/linux/namespaces", json!({"type": "time"}));
            b.set("/linux/timeOffsets", json!({"monotonic": {"secs": 10, "nanosecs": 7},
                "boottime": {"secs": 20, "nanosecs": 0}}));
        },
        check: sh("cat /proc/self/timens_offsets", "monotonic 10 7 boottime 20 0", "linux.timeOffsets") },
];

/// Every field of the schema has a case, and every case names only fields of the schema.
#[test]
fn every_field_of_the_schema_has_a_case() {
    let schema: BTreeSet<&str> = include_str!("../../data/runtime-spec-1.3.0-fields.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let covered: BTreeSet<&str> = CASES
        .iter()
        .flat_map(|c| c.fields.iter().copied())
        .collect();
    let missing: Vec<_> = schema.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&schema).collect();
    assert!(missing.is_empty(), "fields without a case: {missing:?}");
    assert!(
        unknown.is_empty(),
        "cases for fields the schema lacks: {unknown:?}"
    );
}

/// Does `got` (whitespace collapsed) match `want` (`a|b`, `~x`)?
pub fn matches(got: &str, want: &str) -> bool {
    let got = got.split_whitespace().collect::<Vec<_>>().join(" ");
    match want.strip_prefix('~') {
        Some(part) => got.contains(part),
        None => want
            .split('|')
            .any(|w| w.split_whitespace().collect::<Vec<_>>().join(" ") == got),
    }
}

/// Creates, starts and waits for the container; returns the outcome and what it saw.
fn run_sh(h: &Harness, b: &mut Bundle, script: &str, want: &str, field: &str) -> (Outcome, String) {
    b.args(&["sh", "-c", &format!("{CG}{script}")]);
    let id = h.id();
    let (out, c) = h.try_create(b, &id, &[]);
    if !out.success() {
        assert_nothing_left(h, &id, b);
        let line = out.error_lines().join(" ");
        assert!(
            line.contains(field),
            "{field}: refused without naming it: {out}"
        );
        return (Refused, line);
    }
    h.cmd(&["start", &id]).ok();
    h.wait_status(&id, "stopped", spec_tests::secs(20));
    let got = c.output();
    h.cmd(&["delete", &id]).ok();
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("level=warning") && l.contains(field));
    if let Some(w) = warning {
        return (Warned, w.to_string());
    }
    assert!(
        matches(&got, want),
        "{field}: the container printed {got:?}, want {want:?}\n{out}"
    );
    (
        Applied,
        got.split_whitespace().collect::<Vec<_>>().join(" "),
    )
}

/// One case: its outcome, checked against what the field may do here, and what was seen.
fn walk(h: &Harness, case: &Case) -> String {
    let (outcome, saw, allowed) = match &case.check {
        Check::Sh {
            script,
            want,
            field,
            allowed,
        } => {
            let mut b = h.bundle_private();
            (case.set)(&mut b);
            let (o, saw) = run_sh(h, &mut b, script, want, field);
            (o, saw, *allowed)
        }
        Check::Code(f) => {
            let (o, saw) = f(h);
            (o, saw, ANY)
        }
    };
    assert!(
        allowed.contains(&outcome),
        "{outcome:?} is not what this field may do ({allowed:?}): {saw}"
    );
    format!(
        "{:<9} {}: {saw}",
        format!("{outcome:?}"),
        case.fields.join(", ")
    )
}

/// Every case runs (a failing one does not hide the rest); the report says what each did here.
#[test]
fn every_field_is_applied_or_refused() {
    let h = harness!();
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for case in CASES {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| walk(&h, case))) {
            Ok(line) => report.push(line),
            Err(_) => failed.push(case.fields.join(", ")),
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        failed.is_empty(),
        "{} cases failed (see above):\n  {}",
        failed.len(),
        failed.join("\n  ")
    );
}
