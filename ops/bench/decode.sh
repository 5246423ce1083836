#!/usr/bin/env bash
# Decode and prefill tokens/s of Herd and of llama.cpp on the same generated Mixtral-shaped GGUF files
# (Q8_0 and Q4_0), same machine, same thread count, in one run; plus the machine's triad bandwidth and
# Herd's achieved weight bandwidth per decoded token.
#
# usage: ops/bench/decode.sh [threads] [workdir]
#   threads  compute threads for both engines (default: all cores)
#   workdir  where models and the llama.cpp install go (default: build-cache/bench)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
threads="${1:-$(nproc)}"
work="${2:-$root/build-cache/bench}"
mkdir -p "$work"
command -v node >/dev/null || { echo "decode.sh: node is needed for the llama.cpp side" >&2; exit 1; }

# ~1.5 GB in Q8_0: hidden 2048, 8 layers, 8 experts (top-2) of ffn 4096, vocab 32000
if [ ! -f "$work/model-q4_0.gguf" ]; then
  "$root/bin/herd" make-test-model --arch mixtral --hidden 2048 --layers 8 --heads 16 --kv-heads 4 \
    --experts 8 --top-k 2 --expert-ffn 4096 --vocab 32000 --seed 7 --no-hf --gguf Q8_0,Q4_0 --out "$work" >&2
fi
if [ ! -d "$work/llamacpp/node_modules/node-llama-cpp" ]; then
  mkdir -p "$work/llamacpp"
  cp "$root/ops/llamacpp/package.json" "$root/ops/llamacpp/package-lock.json" "$work/llamacpp/"
  (cd "$work/llamacpp" && npm install --omit=optional --no-audit --no-fund --loglevel=error >&2)
fi
cp "$root/ops/llamacpp/bench.mjs" "$work/llamacpp/"

echo "# $(date -u +%FT%TZ) $(uname -m) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$threads"
for m in q8_0 q4_0; do
  f="$work/model-$m.gguf"
  "$root/bin/herd" bench --model "$f" --threads "$threads" --prompt-tokens 128 --gen-tokens 32 --repetitions 3 \
    $([ "$m" = q8_0 ] && echo --triad) 2>/dev/null
  (cd "$work/llamacpp" && node bench.mjs "$f" 128 32 "$threads" 3)
done
