#!/usr/bin/env bash
# Builds libherd_cuda.so, the CUDA kernels of dev.herd.kernels.cuda.CudaBackend, as one fat binary:
# SASS for each target architecture (default sm_80, sm_86, sm_89, sm_90: A100, A10/A40/RTX 30xx,
# L4/L40/RTX 40xx, H100/H200) plus compute_90 PTX, which the driver compiles for newer GPUs on first load.
# The library links the shared CUDA runtime (libcudart.so.<major>); the Java side loads that runtime first.
#
# usage: build.sh OUTPUT_DIR   (the library lands in OUTPUT_DIR/native/<os>-<arch>/, with a .properties
#                               file naming the CUDA runtime it needs)
# Environment:
#   HERD_NVCC         nvcc to use (default: $CUDA_HOME/bin/nvcc, nvcc on the PATH, /usr/local/cuda/bin/nvcc)
#   HERD_CUDA_ARCHS   space-separated SM numbers to build (default "80 86 89 90"); e.g. "90" for a quick
#                     build for one H100 only
# A missing nvcc is not an error: the build goes on without the CUDA kernels, and CudaBackend reports them
# missing.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_root="${1:?usage: build.sh OUTPUT_DIR}"

nvcc="${HERD_NVCC:-}"
if [[ -z "$nvcc" ]]; then
    for candidate in "${CUDA_HOME:-}/bin/nvcc" "$(command -v nvcc 2>/dev/null || true)" /usr/local/cuda/bin/nvcc; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            nvcc="$candidate"
            break
        fi
    done
fi
if [[ -z "$nvcc" || ! -x "$nvcc" ]]; then
    echo "nvcc not found (set CUDA_HOME or HERD_NVCC): CUDA kernels not built; the CUDA backend will report them missing"
    exit 0
fi

case "$(uname -s)" in
    Linux) os=linux ;;
    *) echo "CUDA kernels are built on Linux only (this is $(uname -s)): not built"; exit 0 ;;
esac
case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch="$(uname -m)" ;;
esac

dest="$out_root/native/$os-$arch"
lib="$dest/libherd_cuda.so"
props="$dest/libherd_cuda.properties"
mkdir -p "$dest"

if [[ -f "$lib" && -f "$props" ]]; then
    stale=$(find "$src" -newer "$lib" \( -name '*.cu' -o -name '*.cuh' -o -name '*.h' -o -name '*.sh' \) | head -n 1)
    if [[ -z "$stale" ]]; then
        echo "CUDA kernels up to date: $lib"
        exit 0
    fi
fi

version="$("$nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)"
major="${version%%.*}"
if [[ -z "$major" || "$major" -lt 12 ]]; then
    echo "nvcc $version found, CUDA 12 or newer is needed: CUDA kernels not built"
    exit 0
fi

# keep the requested architectures this nvcc can compile for
supported=" $("$nvcc" --list-gpu-arch 2>/dev/null | sed 's/compute_//' | tr '\n' ' ') "
archs=()
for sm in ${HERD_CUDA_ARCHS:-80 86 89 90}; do
    if [[ "$supported" == *" $sm "* ]]; then
        archs+=("$sm")
    else
        echo "nvcc $version cannot build sm_$sm: skipped"
    fi
done
if [[ ${#archs[@]} -eq 0 ]]; then
    echo "no requested GPU architecture is supported by nvcc $version: CUDA kernels not built"
    exit 0
fi
gencode=()
names=()
for sm in "${archs[@]}"; do
    gencode+=(-gencode "arch=compute_$sm,code=sm_$sm")
    names+=("sm_$sm")
done
last="${archs[${#archs[@]}-1]}"
gencode+=(-gencode "arch=compute_$last,code=compute_$last")  # PTX for GPUs newer than the list
arch_list="$(IFS=,; echo "${names[*]}"),compute_$last"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
# No fast-math: expf/division/sqrt stay IEEE-accurate, which the tests' tolerances rely on. No contraction
# in host code either: the host-side decoder checks then round exactly as the reference does.
flags=(-std=c++17 -O3 -Xcompiler -fPIC,-fvisibility=hidden,-ffp-contract=off --cudart shared "${gencode[@]}"
       -DHERD_CUDA_ARCHS="\"$arch_list\"" -I"$src")
# Every translation unit in parallel, each compiling its architectures one after another. The matrix-vector
# kernels, the bulk of the compile time, are built as two units (plain and fused SwiGLU), so no single unit
# dominates and two cores stay busy to the end.
pids=()
objs=()
compile() { # object name, source, extra flags...
    local name="$1" file="$2"
    shift 2
    "$nvcc" "${flags[@]}" "$@" -c "$src/$file" -o "$tmp/$name.o" &
    pids+=($!)
    objs+=("$tmp/$name.o")
}
compile gemv_plain gemv.cu -DHERD_GEMV_SWIGLU=0
compile gemv_swiglu gemv.cu -DHERD_GEMV_SWIGLU=1
compile mma mma.cu
compile matmul matmul.cu
compile attention attention.cu
compile ops ops.cu
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
if [[ $failed -ne 0 ]]; then
    echo "CUDA kernel compilation failed (nvcc output above); -Dherd.cuda.skip=true builds without the CUDA kernels" >&2
    exit 1
fi
"$nvcc" -shared --cudart shared "${gencode[@]}" -o "$tmp/libherd_cuda.so" "${objs[@]}"

cudart="libcudart.so.$major"
if command -v readelf >/dev/null 2>&1; then
    needed="$(readelf -d "$tmp/libherd_cuda.so" | sed -n 's/.*Shared library: \[\(libcudart\.so[^]]*\)\].*/\1/p' | head -n 1)"
    [[ -n "$needed" ]] && cudart="$needed"
fi
mv "$tmp/libherd_cuda.so" "$lib"
{
    echo "# written by native-kernels/cuda/build.sh"
    echo "cudart=$cudart"
    echo "cuda.version=$version"
    echo "archs=$arch_list"
} > "$props"
echo "CUDA kernels built in $(( $(date +%s) - start )) s for $arch_list with nvcc $version: $lib (needs $cudart)"
