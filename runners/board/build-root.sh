#!/usr/bin/env bash
# An arm64 Debian userland for the tests' "ARM Linux board": OpenSSH server, POSIX shell, coreutils, procps.
# Packages come from Debian's arm64 archive (apt-get download, no maintainer scripts); run through
# qemu-user (binfmt) in a chroot it behaves as an arm64 board: `uname -m` says aarch64.
# Also Debian's python3 + numpy and ncnn's aarch64 wheel from PyPI (the board's own ncnn runtime).
# Usage: build-root.sh DIR [PIP]   (idempotent: DIR/.stamp records the package list; PIP downloads the wheel)
set -euo pipefail
root=${1:?usage: build-root.sh DIR [PIP]}
pip=${2:-pip3}
pkgs="openssh-server openssh-sftp-server dash coreutils procps findutils grep sed base-files util-linux python3 python3-numpy libstdc++6 libgomp1"
ncnn=${NCNN_VERSION:?set NCNN_VERSION (the ncnn wheel version, as in requirements.lock)}
want="$(echo "$pkgs" | tr ' ' '\n' | sort | tr '\n' ' ')ncnn==$ncnn $(sha256sum "$0" | cut -c1-16)"
if [ -f "$root/.stamp" ] && [ "$(cat "$root/.stamp")" = "$want" ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "board-root: needs root (dpkg --add-architecture arm64, chroot)" >&2; exit 1; fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
if ! apt-cache policy openssh-server:arm64 2>/dev/null | grep -q 'Candidate: [0-9]'; then apt-get update -qq; fi
arm=$(for p in $pkgs; do echo "$p:arm64"; done)
deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
       --no-enhances $arm 2>/dev/null | grep -E '^[a-z0-9].*:arm64$' | sort -u)
mkdir -p "$(dirname "$root")"
tmp=$(mktemp -d "${root%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs" "$tmp/root"
( cd "$tmp/debs" && apt-get download $deps >/dev/null 2>&1 ) || { echo "board-root: apt-get download failed" >&2; exit 1; }
for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
r="$tmp/root"
$pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_aarch64 --python-version 3.11 \
  -d "$tmp/wheel" "ncnn==$ncnn" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
[ -n "$(ls "$tmp"/wheel/ncnn-*.whl 2>/dev/null)" ] || { echo "board-root: cannot download the aarch64 ncnn==$ncnn wheel" >&2; exit 1; }
python3 -m zipfile -e "$tmp"/wheel/ncnn-*.whl "$r/usr/lib/python3/dist-packages/"
# what update-alternatives would link (no maintainer scripts run here): NumPy's reference BLAS/LAPACK
for lib in blas lapack; do ln -sfn "$lib/lib$lib.so.3" "$r/usr/lib/aarch64-linux-gnu/lib$lib.so.3"; done
mkdir -p "$r/run/sshd" "$r/root" "$r/tmp" "$r/dev" "$r/proc" "$r/sys" "$r/var/empty"
chmod 1777 "$r/tmp"; chmod 700 "$r/root"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin' \
  'pi:x:1000:1000:board user:/home/pi:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' > "$r/etc/passwd"
printf '%s\n' 'root:x:0:' 'pi:x:1000:' 'nogroup:x:65534:' > "$r/etc/group"
printf '%s\n' 'root:*:19000:0:99999:7:::' 'sshd:*:19000:0:99999:7:::' 'pi:*:19000:0:99999:7:::' > "$r/etc/shadow"
chmod 600 "$r/etc/shadow"
mkdir -p "$r/home/pi"; chown 1000:1000 "$r/home/pi"
rm -f "$r"/etc/ssh/ssh_host_*
echo "$want" > "$r/.stamp"
rm -rf "$root"; mkdir -p "$(dirname "$root")"; mv "$r" "$root"
echo "board-root: $root ($(echo $deps | wc -w) arm64 packages, $(du -sh "$root" | cut -f1))"
