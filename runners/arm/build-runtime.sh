#!/usr/bin/env bash
# Build Paddle Lite's light API for armv8 Linux (static + shared) from a Paddle-Lite checkout, with the
# recipe of ../shared/arm/README.md: tiny_publish with extra ops, then the bundled static library
# turned from LTO bytecode into one prelinked object. About an hour on 2 cores.
#   runners/arm/build-runtime.sh /path/to/Paddle-Lite build/arm/runtime
set -euo pipefail
src=$(cd "$1" && pwd); dest=$2
want=${PADDLE_LITE_TAG:-v2.13-rc}   # the tag of the pinned opt (paddlelite==2.13rc0): .nb files must match it
have=$(git -C "$src" describe --tags --exact-match 2>/dev/null || echo "not at a tag")
if [ "$have" != "$want" ]; then
  echo "build-runtime: $src is $have, not $want (the tag of the installed opt); 'git -C $src checkout $want'" \
       "or set PADDLE_LITE_TAG if you deliberately pair another opt" >&2
  exit 1
fi
command -v aarch64-linux-gnu-g++ >/dev/null || { echo "build-runtime: install g++-aarch64-linux-gnu" >&2; exit 1; }
cd "$src"
./lite/tools/build_linux.sh --arch=armv8 --toolchain=gcc --with_extra=ON --with_log=ON --with_exception=ON
cd build.lite.linux.armv8.gcc
make paddle_api_light_bundled -j"$(nproc)"
aarch64-linux-gnu-g++ -r -O2 -flto -flto-partition=none -flinker-output=nolto-rel -fuse-linker-plugin -nostdlib \
  -Wl,--whole-archive lite/api/libpaddle_api_light_bundled.a -Wl,--no-whole-archive -o paddle_lite_light.o
aarch64-linux-gnu-strip --strip-debug paddle_lite_light.o
cd - >/dev/null
tmp="$dest.partial"; rm -rf "$tmp"; mkdir -p "$tmp/lib" "$tmp/include"
pub=$src/build.lite.linux.armv8.gcc/inference_lite_lib.armlinux.armv8/cxx
cp "$pub"/include/*.h "$tmp/include/"
cp "$pub"/lib/libpaddle_light_api_shared.so "$tmp/lib/"
aarch64-linux-gnu-ar rcs "$tmp/lib/libpaddle_api_light_bundled.a" "$src/build.lite.linux.armv8.gcc/paddle_lite_light.o"
rm -rf "$dest"; mv "$tmp" "$dest"
echo "build-runtime: $dest ($want)"
