#!/usr/bin/env bash
# CUDA benchmarks, on a machine with an NVIDIA GPU:
#   (a) matrix-vector weight bandwidth per weight type (1 and 8 activation rows) as a fraction of the
#       device's peak memory bandwidth, plus tensor-core TFLOP/s at prefill size (dev.herd.kernels.cuda.CudaBench);
#   (b) decode (tg) and prefill (pp) tokens/s of generated Mixtral-shaped GGUF files (Q8_0, Q4_0, Q4_K):
#       Herd's CUDA backend against llama.cpp's CUDA build (node-llama-cpp's prebuilt binaries), same files.
# Output: JSON lines on stdout (progress on stderr).
#
# usage: ops/bench/cuda.sh [workdir]            (default workdir: build-cache/bench-cuda)
#        ops/bench/cuda.sh --pack DIR           on a machine with internet access: put what a GPU machine
#                                               without it needs into DIR (herd.jar with the CUDA kernels,
#                                               node-llama-cpp with its CUDA binaries), then copy DIR and this
#                                               repository there and run with HERD_JAR/LLAMA_DIR pointing into it
# Environment:
#   HERD_JAR    a built cli/target/herd.jar (default: build it here with ./mvnw package, offline if possible)
#   LLAMA_DIR   a directory whose node_modules has node-llama-cpp and @node-llama-cpp/linux-x64-cuda 3.22.1
#               (default: <workdir>/llamacpp-cuda, installed with npm when missing)
#   SHAPE       small (default: hidden 2048, 8 layers, 8 experts of 4096, vocab 32000, ~1.5 GB in Q8_0, as
#               ops/bench/decode.sh) or mixtral (hidden 4096, 32 layers, 8 experts of 14336: Mixtral 8x7B's
#               shape, ~26 GB in Q4_0; generating it takes a long while)
#   SKIP_LLAMA=1  measure Herd only
#
# Needs on the GPU machine: the NVIDIA driver (nvidia-smi), JDK 25 (found by bin/java-home.sh or JAVA_HOME),
# node 20+ for llama.cpp, and the CUDA runtime libraries: libcudart for Herd (the version the jar's kernels
# were built with, see below), libcudart.so.13 + libcublas.so.13 for llama.cpp's CUDA 13 build (or CUDA 12's
# .so.12 pair, used by the @node-llama-cpp/linux-x64-cuda-ext fallback). When nvcc is there too, the kernels
# are rebuilt for this GPU against the local CUDA (a few seconds), which avoids any runtime version mismatch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
say() { echo "cuda.sh: $*" >&2; }
die() { say "$*"; exit 2; }
LLAMA_VERSION="$(sed -n 's/.*"node-llama-cpp": "\([^"]*\)".*/\1/p' "$root/ops/llamacpp/package.json")"

install_llama() { # dir
    mkdir -p "$1"
    cat > "$1/package.json" <<EOF
{
  "name": "herd-llamacpp-cuda-reference",
  "private": true,
  "type": "module",
  "dependencies": {
    "node-llama-cpp": "$LLAMA_VERSION",
    "@node-llama-cpp/linux-x64-cuda": "$LLAMA_VERSION",
    "@node-llama-cpp/linux-x64-cuda-ext": "$LLAMA_VERSION"
  }
}
EOF
    # only the packages named (the CUDA binaries), not every platform's optional ones
    (cd "$1" && npm install --omit=optional --no-audit --no-fund --loglevel=error >&2)
}

build_jar() {
    (cd "$root" && { ./mvnw -B -q -o -DskipTests -pl cli -am package >&2 2>/dev/null \
        || ./mvnw -B -q -DskipTests -pl cli -am package >&2; })
    echo "$root/cli/target/herd.jar"
}

has_kernels() { "$JAVA_HOME/bin/jar" tf "$1" | grep -q 'native/linux-x86_64/libherd_cuda.so'; }

if [[ "${1:-}" == "--pack" ]]; then
    dest="${2:?usage: cuda.sh --pack DIR}"
    source "$root/bin/java-home.sh"
    mkdir -p "$dest"
    jar="$(build_jar)"
    has_kernels "$jar" \
        || die "$jar has no CUDA kernels: build where nvcc is installed (see native-kernels/cuda/README.md)"
    cp "$jar" "$dest/herd.jar"
    install_llama "$dest/llamacpp-cuda"
    say "packed into $dest: herd.jar, llamacpp-cuda/. On the GPU machine:"
    say "  HERD_JAR=$dest/herd.jar LLAMA_DIR=$dest/llamacpp-cuda ops/bench/cuda.sh"
    exit 0
fi

work="${1:-$root/build-cache/bench-cuda}"
mkdir -p "$work"

# ---- preflight: fail fast, saying what is missing -----------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 || die "no NVIDIA GPU here (nvidia-smi not found): nothing to measure"
gpus="$(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader 2>&1)" \
    || die "no NVIDIA GPU usable here: nvidia-smi says: $gpus"
[[ -n "$gpus" ]] || die "nvidia-smi lists no GPU"
say "GPUs: $gpus"
source "$root/bin/java-home.sh"
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
      --add-modules java.se --add-opens java.base/java.lang=ALL-UNNAMED)

jar="${HERD_JAR:-}"
if [[ -z "$jar" ]]; then
    say "building herd.jar"
    jar="$(build_jar)"
fi
[[ -f "$jar" ]] || die "no herd.jar at $jar"

# Kernels for exactly this GPU and this machine's CUDA when nvcc is here; otherwise the ones in the jar.
props=()
nvcc="${HERD_NVCC:-$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)}"
if [[ -x "$nvcc" ]]; then
    sm="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' .')"
    say "building the CUDA kernels for sm_$sm with $nvcc"
    if HERD_NVCC="$nvcc" HERD_CUDA_ARCHS="$sm" bash "$root/native-kernels/cuda/build.sh" "$work/kernels" >&2; then
        lib="$(ls "$work"/kernels/native/*/libherd_cuda.so 2>/dev/null | head -n 1)"
        [[ -n "$lib" ]] && props=(-Dherd.cuda.library="$lib")
    else
        say "building with $nvcc failed: using the kernels inside $jar"
    fi
else
    has_kernels "$jar" || die "$jar has no CUDA kernels and there is no nvcc here to build them"
    say "no nvcc here: using the kernels inside $jar"
fi
# the CUDA runtime libraries, for Herd and for llama.cpp, wherever the toolkit put them
for d in "${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -d "$d" ]] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done

info="$("${java[@]}" "${props[@]}" -cp "$jar" dev.herd.kernels.cuda.CudaBench --info 2>&1)" \
    || die "Herd cannot use CUDA here: $info"
echo "$info"

# ---- (a) kernel bandwidth --------------------------------------------------------------------------------------
say "matrix-vector bandwidth per type"
"${java[@]}" "${props[@]}" -cp "$jar" dev.herd.kernels.cuda.CudaBench

# ---- (b) decode and prefill against llama.cpp ---------------------------------------------------------------------
case "${SHAPE:-small}" in
    small) shape=(--hidden 2048 --layers 8 --heads 16 --kv-heads 4 --experts 8 --top-k 2 --expert-ffn 4096 --vocab 32000) ;;
    mixtral) shape=(--hidden 4096 --layers 32 --heads 32 --kv-heads 8 --experts 8 --top-k 2 --expert-ffn 14336 --vocab 32000) ;;
    *) die "SHAPE must be small or mixtral" ;;
esac
models="$work/models-${SHAPE:-small}"
if [[ ! -f "$models/model-q4_k.gguf" ]]; then
    say "generating the ${SHAPE:-small} Mixtral-shaped models into $models"
    "${java[@]}" -jar "$jar" make-test-model --arch mixtral "${shape[@]}" --seed 7 --no-hf \
        --gguf Q8_0,Q4_0,Q4_K --out "$models" >&2
fi

if [[ -z "${SKIP_LLAMA:-}" ]]; then
    command -v node >/dev/null || die "node 20+ is needed for the llama.cpp side (or set SKIP_LLAMA=1)"
    llama="${LLAMA_DIR:-$work/llamacpp-cuda}"
    if [[ ! -d "$llama/node_modules/@node-llama-cpp/linux-x64-cuda" ]]; then
        say "installing node-llama-cpp $LLAMA_VERSION with its CUDA binaries into $llama"
        install_llama "$llama" || die "cannot install node-llama-cpp (no network? prepare it with cuda.sh --pack)"
    fi
    # bench.mjs's measurement, on the GPU: every layer offloaded, CUDA or nothing
    sed -e 's/getLlama({gpu: false, logLevel: "error", build: "never"})/getLlama({gpu: "cuda", logLevel: "error", build: "never"})/' \
        -e 's/loadModel({modelPath, gpuLayers: 0})/loadModel({modelPath, gpuLayers: "max"})/' \
        -e 's/engine: "llama.cpp"/engine: "llama.cpp-cuda"/' \
        "$root/ops/llamacpp/bench.mjs" > "$llama/bench-cuda.mjs"
    grep -q 'gpu: "cuda"' "$llama/bench-cuda.mjs" && grep -q 'gpuLayers: "max"' "$llama/bench-cuda.mjs" \
        || die "ops/llamacpp/bench.mjs changed: update the substitutions in cuda.sh"
fi

echo "{\"bench\":\"machine\",\"date\":\"$(date -u +%FT%TZ)\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"gpus\":\"$gpus\"}"
for m in q8_0 q4_0 q4_k; do
    f="$models/model-$m.gguf"
    "${java[@]}" "${props[@]}" -jar "$jar" bench --model "$f" --backend cuda --prompt-tokens 512 --gen-tokens 64 \
        --repetitions 3
    if [[ -z "${SKIP_LLAMA:-}" ]]; then
        (cd "$llama" && node bench-cuda.mjs "$f" 512 64 4 3)
    fi
done
