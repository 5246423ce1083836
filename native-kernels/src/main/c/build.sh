#!/usr/bin/env bash
# Builds libherd_kernels.so: one library holding the kernels three times (portable, AVX2, AVX-512;
# x86-64 only for the last two), dispatched at run time by the CPU's features. Never -march=native:
# a library built so crashes on an older CPU.
#
# usage: build.sh OUTPUT_DIR   (the library lands in OUTPUT_DIR/native/<os>-<arch>/)
# A missing gcc is not an error: the build goes on and NativeBackend reports the library missing.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_root="${1:?usage: build.sh OUTPUT_DIR}"
cc="${CC:-gcc}"

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "gcc not found: native kernels not built, the reference backend will be used"
    exit 0
fi

case "$(uname -s)" in
    Linux) os=linux ;;
    *) echo "native kernels are built on Linux only (this is $(uname -s)): the reference backend will be used"; exit 0 ;;
esac
case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch="$(uname -m)" ;;
esac

dest="$out_root/native/$os-$arch"
lib="$dest/libherd_kernels.so"
mkdir -p "$dest"

# Up to date when the library is newer than every source and this script.
if [[ -f "$lib" ]]; then
    stale=$(find "$src" -newer "$lib" \( -name '*.c' -o -name '*.h' -o -name '*.sh' \) | head -n 1)
    if [[ -z "$stale" ]]; then
        echo "native kernels up to date: $lib"
        exit 0
    fi
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(-O3 -fPIC -fvisibility=hidden -fno-math-errno -std=gnu11 -Wall -Wextra -Wno-unused-function -I"$src")

objs=()
pids=()
compile() { # name, flags...
    local name="$1"; shift
    "$cc" "${common[@]}" "$@" -c -o "$tmp/$name.o" &
    pids+=($!)
    objs+=("$tmp/$name.o")
}
compile isa_portable -DHERD_LEVEL=1 "$src/herd_kernels_isa.c"
if [[ "$arch" == x86_64 ]]; then
    compile isa_avx2 -DHERD_LEVEL=2 -mavx2 -mfma -mf16c "$src/herd_kernels_isa.c"
    compile isa_avx512 -DHERD_LEVEL=3 -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
        "$src/herd_kernels_isa.c"
    compile dispatch -DHERD_X86_VARIANTS "$src/herd_kernels.c"
else
    compile dispatch "$src/herd_kernels.c"
fi
for pid in "${pids[@]}"; do
    wait "$pid"
done
"$cc" -shared -o "$tmp/libherd_kernels.so" "${objs[@]}" -lm -pthread
mv "$tmp/libherd_kernels.so" "$lib"
echo "native kernels built: $lib"
