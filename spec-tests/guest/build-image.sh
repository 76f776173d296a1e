#!/usr/bin/env bash
# Builds the stock-distro test guest: a Debian 12 system as the clients' users run it (systemd as
# PID 1, cgroup v2 only, Debian's docker.io, podman and containerd), from Debian's packages only.
#
#   bash spec-tests/guest/build-image.sh DIR
#
# Leaves in DIR: root.img (raw ext4, the whole system), vmlinuz and initrd.img (Debian's kernel and
# initramfs from the image, for qemu -kernel), wheels/ (the CRI test client's Python packages, unpacked
# into the image) and stamp-$RECIPE. Does nothing when that stamp is there; a changed recipe (RECIPE below)
# builds anew. Packages are cached in DIR/debs, so a rebuild is offline.
#
# The image boots to multi-user.target and runs /usr/local/sbin/sangja-payload (sangja-payload.service):
# it mounts the second disk (the payload the tests write: label PAYLOAD), runs its `run` script with the
# second serial port (/dev/ttyS1) as the report, and powers off. docker, containerd and podman's socket are
# disabled at boot: the tests start them with their configuration, as a user would after installing sangja.
set -euo pipefail

dir=${1:?usage: build-image.sh DIR}
RECIPE=2
mirror=${SANGJA_GUEST_MIRROR:-http://deb.debian.org/debian}
packages=apparmor,containernetworking-plugins,systemd,systemd-sysv,dbus,linux-image-amd64,docker.io,podman,containerd,runc,iptables,iproute2,kmod,procps,python3,e2fsprogs,uidmap,fuse-overlayfs,slirp4netns,util-linux,mount

if [ -f "$dir/stamp-$RECIPE" ]; then
    exit 0
fi
for tool in debootstrap mkfs.ext4 python3; do
    command -v "$tool" >/dev/null || { echo "build-image.sh: $tool is missing (apt-get install debootstrap e2fsprogs)" >&2; exit 1; }
done
mkdir -p "$dir/debs"
work=$(mktemp -d "$dir/build.XXXXXX")
root=$work/root
cleanup() {
    for m in proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

echo "build-image.sh: debootstrap bookworm into $root" >&2
debootstrap --variant=minbase --cache-dir="$dir/debs" --include="$packages" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -30 "$work/debootstrap.log" >&2
    exit 1
}

# The CRI test client (spec-tests/cri/cri_client.py) needs grpcio >= 1.32 (Debian 12 has 1.51 but its
# grpc-tools is 1.14, without grpc.protos): the same wheels .ci/run installs on the host, from PyPI, for
# the guest's Python (3.11), unpacked into its dist-packages.
py=$(chroot "$root" python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
mkdir -p "$dir/wheels"
python3 -m pip download --quiet --only-binary=:all: --python-version "$py" --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --implementation cp --dest "$dir/wheels" \
    grpcio==1.66.1 grpcio-tools==1.66.1 protobuf==5.27.2
site=$root/usr/local/lib/python3.${py#3}/dist-packages
mkdir -p "$site"
for w in "$dir"/wheels/*.whl; do
    python3 -m zipfile -e "$w" "$site"
done

# Boot: the disk is / (no partition table), the console the first serial port, cgroup v2 only (Debian 12's
# default, said again so that a changed default cannot change the test).
cat >"$root/etc/fstab" <<'EOF'
/dev/vda / ext4 defaults,noatime 0 1
EOF
echo sangja-guest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 sangja-guest\n' >"$root/etc/hosts"
# No password: nobody logs in; the payload service is the only way in.
chroot "$root" passwd -d root >/dev/null

cat >"$root/usr/local/sbin/sangja-payload" <<'EOF'
#!/bin/sh
# Runs the tests' payload (second disk, label PAYLOAD) with /dev/ttyS1 as its report, then powers off.
mkdir -p /payload
if mount -L PAYLOAD /payload; then
    echo "PAYLOAD-BEGIN uptime $(cut -d' ' -f1 /proc/uptime) s" >/dev/ttyS1
    /bin/sh /payload/run >/dev/ttyS1 2>&1
    echo "PAYLOAD-DONE uptime $(cut -d' ' -f1 /proc/uptime) s" >/dev/ttyS1
    umount /payload
else
    echo "PAYLOAD-MISSING" >/dev/ttyS1
fi
systemctl poweroff --no-block
EOF
chmod 755 "$root/usr/local/sbin/sangja-payload"
cat >"$root/etc/systemd/system/sangja-payload.service" <<'EOF'
[Unit]
Description=sangja test payload
After=multi-user.target dbus.service
Wants=dbus.service

[Service]
Type=idle
ExecStart=/usr/local/sbin/sangja-payload
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable sangja-payload.service >/dev/null 2>&1
# Quicker boots under emulation: no timers or services the tests do not use. The clients' daemons are
# started by the tests, after their configuration is written.
for u in docker.service docker.socket containerd.service podman.socket podman.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer systemd-timesyncd.service \
    man-db.timer dpkg-db-backup.timer; do
    chroot "$root" systemctl disable "$u" >/dev/null 2>&1 || true
done
chroot "$root" systemctl mask serial-getty@ttyS0.service serial-getty@ttyS1.service getty@tty1.service >/dev/null 2>&1
chroot "$root" apt-get clean

kernel=$(ls "$root"/boot/vmlinuz-* | head -1)
initrd=$(ls "$root"/boot/initrd.img-* | head -1)
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

# A raw ext4 image of the tree (no loop device, no mount): 8 GiB sparse, room for the tests' images.
mkfs.ext4 -q -F -L sangja-root -E root_owner=0:0 -d "$root" "$work/root.img" 8G
mv "$work/root.img" "$work/vmlinuz" "$work/initrd.img" "$dir/"
rm -f "$dir"/stamp-*
touch "$dir/stamp-$RECIPE"
echo "build-image.sh: $dir/root.img ready" >&2
