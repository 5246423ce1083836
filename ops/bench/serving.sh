#!/usr/bin/env bash
# Serving benchmark: aggregate generated tokens/s and time to first token (p50, p99) at 1, 8 and 32 concurrent
# streamed requests against `herd serve` on a generated Mixtral-shaped model (random weights).
#
#   ops/bench/serving.sh                          # --backend auto: native kernels when they load
#   BACKEND=reference THREADS=2 ops/bench/serving.sh
#
# Settings (environment): BACKEND (auto|native|reference, default auto), THREADS (default: all cores),
# CONCURRENCY ("1 8 32"), MAX_TOKENS (64), PROMPT_WORDS (24), MAX_BATCH_TOKENS (512), MODEL_ARGS (extra
# make-test-model options, default "--arch mixtral --hidden 256 --layers 4 --experts 8"), HERD_JAR (a built CLI jar;
# default: cli/target/herd.jar, built with `mvnw package` when missing). Needs node 20+ for the load generator.
# Only loopback traffic; the server and the temporary model are removed on exit, also on failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/bin/java-home.sh"

backend="${BACKEND:-auto}"
threads="${THREADS:-$(nproc)}"
levels="${CONCURRENCY:-1 8 32}"
max_tokens="${MAX_TOKENS:-64}"
prompt_words="${PROMPT_WORDS:-24}"
max_batch_tokens="${MAX_BATCH_TOKENS:-512}"
model_args="${MODEL_ARGS:---arch mixtral --hidden 256 --layers 4 --experts 8}"
jar="${HERD_JAR:-$root/cli/target/herd.jar}"
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED)

command -v node >/dev/null || { echo "serving.sh: node 20+ is needed for the load generator" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/herd-bench-serving.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -f "$jar" ]; then
  echo "serving.sh: building the CLI jar" >&2
  (cd "$root" && ./mvnw -B -q --no-transfer-progress -pl cli -am package -DskipTests) >&2
fi

# shellcheck disable=SC2086 # model_args is a list of options
"${java[@]}" -jar "$jar" make-test-model $model_args --out "$work/model" --gguf F32 --no-hf >/dev/null
model="$work/model/model-f32.gguf"

"${java[@]}" -jar "$jar" serve --model "$model" --port 0 --backend "$backend" --threads "$threads" \
  --served-model-name bench --max-batch-tokens "$max_batch_tokens" >"$work/serve.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 600); do
  base="$(sed -n 's|^herd serve: ready at \(http://[^ ]*\)/v1 .*|\1|p' "$work/serve.log")"
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; echo "serving.sh: the server died" >&2; exit 1; }
  sleep 0.2
done
[ -n "$base" ] || { cat "$work/serve.log" >&2; echo "serving.sh: the server was not ready in 120 s" >&2; exit 1; }

echo "# herd serving benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "# model: generated, make-test-model $model_args, F32 GGUF"
grep -h 'loaded in' "$work/serve.log" | sed 's/^/# /' || true
# warm-up (JIT, buffers), not reported
node "$root/ops/bench/serving-load.mjs" --url "$base" --model bench --concurrency 4 --requests 8 --max-tokens 16 \
  --prompt-words "$prompt_words" --json >/dev/null
echo "# load: streamed /v1/completions, $prompt_words-word prompts, max_tokens $max_tokens, temperature 0.8"
for c in $levels; do
  requests=$(( c * 2 > 8 ? c * 2 : 8 ))
  node "$root/ops/bench/serving-load.mjs" --url "$base" --model bench --concurrency "$c" --requests "$requests" \
    --max-tokens "$max_tokens" --prompt-words "$prompt_words"
done
