#!/usr/bin/env bash
# Build sangja, build an example bundle offline from the host's static busybox, and run it.
#
#   ./examples/demo.sh          # as root
#   sudo ./examples/demo.sh     # from a user account (sudo is not installed on Debian by default)
#
# Needs: root, a Rust toolchain, /bin/busybox from Debian's busybox-static (or BUSYBOX=/path/to/static/busybox).
# Leaves the bundle in target/demo-bundle; nothing else outside target/.
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: containers need root: run it as root (or: sudo $0)" >&2
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
# cargo shows its progress: a first build compiles ~60 crates (a few minutes on 2 cores), later ones are quick.
echo "demo.sh: building sangja (cargo dist: static, size-optimised)..." >&2
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    sudo -u "$SUDO_USER" -H "$cargo" dist
else
    "$cargo" dist
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
sangja=$target/dist/sangja

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

# The config `sangja spec` writes (runc's default), with a probe as the process and no terminal.
"$sangja" spec --bundle "$bundle"
probe='echo hello from $(hostname), pid $$ in its own namespaces; uname -sr; id; echo root: $(ls /); grep -e CapEff -e NoNewPrivs /proc/self/status'
sed -i -e 's#"terminal": true#"terminal": false#' \
    -e "s#^\t\t\t\"sh\"\$#\t\t\t\"sh\", \"-c\", \"$probe\"#" \
    -e 's#"hostname": "runc"#"hostname": "sangja-demo"#' "$bundle/config.json"

id="sangja-demo-$$"
echo "+ sangja run --bundle $bundle $id"
exec "$sangja" --root "$target/demo-state" run --bundle "$bundle" "$id"
