#!/usr/bin/env bash
# Make aarch64 ELF files run on this x86 host through qemu-user (binfmt_misc, flags PF).
# Idempotent. Needs root (mounting binfmt_misc and registering a handler); says why otherwise.
set -euo pipefail
BINFMT=/proc/sys/fs/binfmt_misc
SPEC=/usr/share/binfmts/qemu-aarch64
case "$(uname -m)" in aarch64|arm64) echo "qemu-binfmt: this host is $(uname -m): ARM binaries run natively"; exit 0;; esac
if [ -e "$BINFMT/qemu-aarch64" ] && grep -q '^enabled' "$BINFMT/qemu-aarch64"; then exit 0; fi
if [ ! -f "$SPEC" ]; then
  echo "qemu-binfmt: $SPEC missing: install Debian's qemu-user-static ('make arm-tools' does, as root)" >&2; exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "qemu-binfmt: registering qemu-aarch64 with binfmt_misc needs root (you are $(id -un)); run 'sudo make arm-qemu'" >&2
  exit 1
fi
if [ ! -e "$BINFMT/register" ]; then
  mount -t binfmt_misc binfmt_misc "$BINFMT" || {
    echo "qemu-binfmt: cannot mount binfmt_misc on $BINFMT (a container without that right?)" >&2; exit 1; }
fi
field() { sed -n "s/^$1 //p" "$SPEC"; }
interp=$(field interpreter)
printf ':qemu-aarch64:M:%s:%s:%s:%s:PF' "$(field offset)" "$(field magic)" "$(field mask)" "$interp" > "$BINFMT/register"
echo "qemu-binfmt: registered qemu-aarch64 ($interp)"
