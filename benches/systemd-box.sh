#!/bin/bash
# create→start→delete with --systemd-cgroup at native speed, against systemd 252 as PID 1 of a container
# on this host (the stock-distro guest's Debian 12 image, cgroup v2 mounted in the container), sangja and
# runc interleaved, sangja with cgroupfs beside them, and the systemd step of sangja's create (--trace),
# through the system bus (what sangja, like runc, uses first) and on systemd's private socket.
# The stock-distro guest measures the same under qemu, where TCG makes every figure 20-50× slower.
#
#   sudo benches/systemd-box.sh [ROUNDS]      (default 30; as root)
#
# Needs the guest image (`cargo test -p sangja-shim --test stock_distro` builds and caches it in
# $SANGJA_GUEST_DIR, default /var/cache/sangja-guest) and the shipped binary (`cargo dist`). It works in
# a private mount namespace and a scratch dir under /run, and removes both; it leaves nothing behind.
# Prints `<series> n=<n> median=<µs> min=<µs> max=<µs>` per series, then the ratios of the medians.
set -euo pipefail
ROUNDS=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMG=${SANGJA_GUEST_DIR:-/var/cache/sangja-guest}/root.img
SANGJA=${SANGJA:-$ROOT/target/dist/sangja}
RUNC=${RUNC:-$(command -v runc)}
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for f in "$IMG" "$SANGJA" "$RUNC" "$BUSYBOX"; do
    [ -f "$f" ] || { echo "missing $f (see the header of $0)" >&2; exit 1; }
done
if [ -z "${SANGJA_SDBOX_INNER:-}" ]; then
    exec env SANGJA_SDBOX_INNER=1 unshare --mount --propagation private "$0" "$@"
fi

W=$(mktemp -d /run/sangja-sdbox.XXXXXX)
R=$W/root
S="$SANGJA --root $W/state"
cleanup() {
    $S delete --force sdbox >/dev/null 2>&1 || true
    umount -l "$R" "$W/rw" "$W/img" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/img" "$W/rw" "$R" "$W/bundle"
mount -o ro,loop "$IMG" "$W/img"
mount -t tmpfs tmpfs "$W/rw"
mkdir -p "$W/rw/up" "$W/rw/work"
mount -t overlay overlay -o "lowerdir=$W/img,upperdir=$W/rw/up,workdir=$W/rw/work" "$R"

# The box: systemd with nothing but its own units (the image's daemons and test service masked).
for u in docker.service docker.socket containerd.service podman.service sangja-payload.service \
    serial-getty@ttyS0.service serial-getty@ttyS1.service getty@tty1.service apparmor.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
done
: >"$R/etc/fstab"
install -m 755 "$SANGJA" "$R/usr/local/bin/sangja"
install -m 755 "$RUNC" "$R/usr/local/bin/runc"
T=$R/var/lib/sangja-bench
mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/dev" "$T/rootfs/sys" "$T/rootfs/tmp" "$T/bundle"
cp "$BUSYBOX" "$T/rootfs/bin/busybox"
(cd "$T/bundle" && "$SANGJA" spec)
python3 - "$T/bundle/config.json" "$W/bundle/config.json" "$R" <<'EOF'
import json, sys
inner, box, root = sys.argv[1:]
c = json.load(open(inner))
c["process"].update(terminal=False, args=["true"])
c["root"]["path"] = "/var/lib/sangja-bench/rootfs"
json.dump(c, open(inner, "w"), indent=1)
every = ["CAP_" + n for n in """CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
    LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO
    SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD
    LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
    PERFMON BPF CHECKPOINT_RESTORE""".split()]
# Only what the host's bounding set has (CAP_SYS_RESOURCE is missing on some hosts of ours).
bound = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("CapBnd")), 16)
every = [c for i, c in enumerate(every) if bound >> i & 1]
fs = lambda d, t, o=(): {"destination": d, "type": t, "source": t, "options": list(o)}
box_config = {
    "ociVersion": "1.2.0",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "cwd": "/",
                "args": ["/lib/systemd/systemd"],
                "env": ["container=sangja", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "capabilities": {k: every for k in ["bounding", "effective", "permitted"]}},
    "root": {"path": root},
    "hostname": "sdbox",
    "mounts": [fs("/proc", "proc"),
               fs("/dev", "tmpfs", ["nosuid", "mode=755"]),
               fs("/dev/pts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
               fs("/dev/shm", "tmpfs", ["nosuid", "noexec", "nodev", "mode=1777"]),
               fs("/sys", "sysfs", ["nosuid", "noexec", "nodev"]),
               fs("/sys/fs/cgroup", "cgroup2", ["nosuid", "noexec", "nodev"]),
               fs("/run", "tmpfs", ["nosuid", "nodev", "mode=755"]),
               fs("/tmp", "tmpfs", ["nosuid", "nodev", "mode=1777"])],
    "linux": {"namespaces": [{"type": t} for t in ["pid", "mount", "ipc", "uts", "cgroup", "network"]],
              "cgroupsPath": "/sangja-sdbox",
              "resources": {"devices": [{"allow": True, "access": "rwm"}]}},
}
json.dump(box_config, open(box, "w"), indent=1)
EOF
$S run -d --bundle "$W/bundle" sdbox </dev/null >"$W/box.out" 2>&1 || { cat "$W/box.out" >&2; exit 1; }
in_box() { $S exec sdbox "$@"; }
for _ in $(seq 1 100); do
    state=$(in_box systemctl is-system-running 2>/dev/null || true)
    case $state in running | degraded) break ;; esac
    sleep 0.1
done
echo "box: $(in_box systemctl --version | head -1); $state; cgroup $(in_box stat -fc %T /sys/fs/cgroup)"
[ "$state" = running ] || in_box systemctl --failed --no-legend --plain | sed 's/^/box: failed: /'
in_box sh -c 'cd /var/lib/sangja-bench/rootfs/bin && for a in $(./busybox --list); do [ $a = busybox ] || ln -s busybox $a; done'

# One warm-up round, then $ROUNDS interleaved; each sample is one create→start→delete, in µs.
cat >"$T/rounds.sh" <<'EOF'
B=/var/lib/sangja-bench/bundle
now() { echo $(($(date +%s%N) / 1000)); }
round() {
    for rt in sangja_systemd runc_systemd sangja_cgroupfs sangja_systemd_private; do
        t0=$(now)
        case $rt in
        sangja_systemd) sangja --systemd-cgroup --trace /tmp/trace.jsonl create --bundle $B c$1 >/dev/null &&
            sangja start c$1 && sangja delete --force c$1 ;;
        runc_systemd) runc --systemd-cgroup create --bundle $B r$1 >/dev/null && runc start r$1 &&
            runc delete --force r$1 ;;
        sangja_cgroupfs) sangja create --bundle $B f$1 >/dev/null && sangja start f$1 &&
            sangja delete --force f$1 ;;
        # No system bus: root talks to systemd on its private socket.
        sangja_systemd_private) export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent
            sangja --systemd-cgroup --trace /tmp/trace-private.jsonl create --bundle $B p$1 >/dev/null &&
                sangja start p$1 && sangja delete --force p$1
            unset DBUS_SYSTEM_BUS_ADDRESS ;;
        esac || { echo "FAIL $rt round $1"; exit 1; }
        t1=$(now)
        [ "$1" = 0 ] || echo "$rt $((t1 - t0))"
    done
}
i=0
while [ $i -le "$1" ]; do round $i; i=$((i + 1)); done
# The systemd step and its parts (the version's answer, asked before the clone; StartTransientUnit's
# reply; the job; the files).
for part in unit version call job files; do
    sed -n '2,$s/.*"span":"parent:systemd-'$part'","us":\([0-9.]*\).*/step_'$part' \1/p' /tmp/trace.jsonl
    sed -n '2,$s/.*"span":"parent:systemd-'$part'","us":\([0-9.]*\).*/private_step_'$part' \1/p' \
        /tmp/trace-private.jsonl
done
left=$(systemctl list-units --all --plain --no-legend 'sangja-*' 'runc-*' | wc -l)
echo "units_left $left"
EOF
in_box sh /var/lib/sangja-bench/rounds.sh "$ROUNDS" >"$W/samples" || { tail -3 "$W/samples"; exit 1; }
awk '
    $1 == "units_left" { left = $2; next }
    { v[$1, ++n[$1]] = $2 }
    END {
        for (s in n) {
            m = n[s]
            for (i = 1; i <= m; i++) a[i] = v[s, i] + 0
            for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            med[s] = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
            printf "%s n=%d median=%.0f min=%.0f max=%.0f\n", s, m, med[s], a[1], a[m]
        }
        printf "ratio sangja_systemd/runc_systemd=%.2f sangja_systemd/sangja_cgroupfs=%.2f",
            med["sangja_systemd"] / med["runc_systemd"], med["sangja_systemd"] / med["sangja_cgroupfs"]
        printf " sangja_systemd/sangja_systemd_private=%.2f\n",
            med["sangja_systemd"] / med["sangja_systemd_private"]
        printf "units left in the box: %d\n", left
        exit (left != 0)
    }' "$W/samples" | sort
