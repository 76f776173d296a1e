#!/usr/bin/env bash
# Build sangja, build an example bundle offline from the host's static busybox, and run it.
#
#   sudo ./examples/demo.sh
#
# Needs: root, a Rust toolchain, /bin/busybox from Debian's busybox-static (or BUSYBOX=/path/to/static/busybox).
# Leaves the bundle in target/demo-bundle; nothing else outside target/.
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: containers need root: sudo $0" >&2
    exit 1
fi

busybox=${BUSYBOX:-/bin/busybox}
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "demo.sh: no static busybox at $busybox (apt-get install busybox-static, or set BUSYBOX)" >&2
    exit 1
fi

# sudo resets PATH: find the invoking user's cargo and build as that user, so target/ stays theirs.
cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -n "${SUDO_USER:-}" ]; then
    user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    [ -x "$user_home/.cargo/bin/cargo" ] && cargo="$user_home/.cargo/bin/cargo"
fi
if [ -z "$cargo" ]; then
    echo "demo.sh: cargo not found (install Rust, or run: sudo env PATH=\"\$PATH\" $0)" >&2
    exit 1
fi
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    sudo -u "$SUDO_USER" -H "$cargo" build --release --quiet -p sangja-shim --bin sangja
else
    "$cargo" build --release --quiet -p sangja-shim --bin sangja
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
sangja=$target/release/sangja

# The bundle: a busybox rootfs and a config like `sangja spec` writes, with a probe as the process.
bundle=$target/demo-bundle
rm -rf "$bundle"
mkdir -p "$bundle/rootfs/bin"
cp "$busybox" "$bundle/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$applet"
done
mkdir -p "$bundle"/rootfs/{proc,sys,dev,tmp,etc,root}
echo 'root:x:0:0:root:/root:/bin/sh' >"$bundle/rootfs/etc/passwd"
echo 'root:x:0:' >"$bundle/rootfs/etc/group"

cat >"$bundle/config.json" <<'JSON'
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ "sh", "-c",
      "echo \"hello from $(hostname), pid $$ in its own namespaces\"; uname -sr; id; echo \"root: $(ls / | tr '\\n' ' ')\"; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status" ],
    "env": [ "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm" ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
    },
    "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "sangja-demo",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": [ "nosuid", "noexec", "nodev" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {
    "resources": { "devices": [ { "allow": false, "access": "rwm" } ], "memory": { "limit": 67108864 } },
    "namespaces": [ { "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" } ],
    "maskedPaths": [ "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi" ],
    "readonlyPaths": [ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" ]
  }
}
JSON

id="sangja-demo-$$"
echo "+ sangja run --bundle $bundle $id"
exec "$sangja" --root "$target/demo-state" run --bundle "$bundle" "$id"
