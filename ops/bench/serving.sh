#!/usr/bin/env bash
# Serving benchmark: aggregate generated tokens/s and time to first token (p50, p99) at 1, 8 and 32 concurrent
# streamed requests against `herd serve` on a generated Mixtral-shaped model (random weights).
#
#   ops/bench/serving.sh                          # --backend auto: native kernels when they load
#   BACKEND=reference THREADS=2 ops/bench/serving.sh
#   NODES=3 ops/bench/serving.sh                  # the same load on `herd coordinator` over 3 `herd shard` processes
#
# Settings (environment): BACKEND (auto|native|reference, default auto), THREADS (default: all cores),
# CONCURRENCY ("1 8 32"), MAX_TOKENS (64), PROMPT_WORDS (24), MAX_BATCH_TOKENS (512), MODEL_ARGS (extra
# make-test-model options, default "--arch mixtral --hidden 256 --layers 4 --experts 8"), NODES (0: one process; N: a
# coordinator over N shard processes on loopback, each offering about 1/N of the model so the planner splits it;
# THREADS then applies to each node), HERD_JAR (a built CLI jar;
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
node_pids=()
cleanup() {
  for pid in "$server_pid" "${node_pids[@]}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
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

nodes="${NODES:-0}"
kv_blocks=512
if [ "$nodes" -gt 0 ]; then
  free_ports() { python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"; }
  read -r -a ports <<<"$(free_ports $((nodes + 1)))"
  seeds=""
  for p in "${ports[@]}"; do seeds="${seeds:+$seeds,}127.0.0.1:$p"; done
  # each node offers a little over 1/N of what the model needs with its KV reserve, so the plan must split it
  # (the probe node offers nothing, so `plan` answers "does not fit" and exits 1: only its needs line is wanted)
  need="$({ "${java[@]}" -jar "$jar" plan --model "$model" --context-tokens $((kv_blocks * 16)) --node probe=0 \
    || true; } | sed -n 's/^needs: \([0-9]*\) bytes.*/\1/p')"
  mem_gb="$(python3 -c "print('%.9f' % ($need * 1.25 / $nodes / 1e9))")"
  for i in $(seq 0 $((nodes - 1))); do
    "${java[@]}" -jar "$jar" shard --model "$model" --node-id "node-$i" --host 127.0.0.1 --grpc-port 0 \
      --hz-port "${ports[$((i + 1))]}" --seeds "$seeds" --cluster-name "bench-${ports[0]}" --memory-gb "$mem_gb" \
      --backend "$backend" --threads "$threads" >"$work/node-$i.log" 2>&1 &
    node_pids+=($!)
  done
  "${java[@]}" -jar "$jar" coordinator --model "$model" --port 0 --served-model-name bench \
    --max-batch-tokens "$max_batch_tokens" --kv-blocks "$kv_blocks" --hz-port "${ports[0]}" --seeds "$seeds" \
    --cluster-name "bench-${ports[0]}" --min-nodes "$nodes" >"$work/serve.log" 2>&1 &
  ready_line='herd coordinator: ready at'
else
  "${java[@]}" -jar "$jar" serve --model "$model" --port 0 --backend "$backend" --threads "$threads" \
    --served-model-name bench --max-batch-tokens "$max_batch_tokens" --kv-blocks "$kv_blocks" \
    >"$work/serve.log" 2>&1 &
  ready_line='herd serve: ready at'
fi
server_pid=$!
base=""
for _ in $(seq 1 900); do
  base="$(sed -n "s|^$ready_line \(http://[^ ]*\)/v1 .*|\1|p" "$work/serve.log")"
  # /ready turns 200 once the model can run steps (on a cluster: once every node loaded the plan)
  if [ -n "$base" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ]; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; echo "serving.sh: the server died" >&2; exit 1; }
  sleep 0.2
done
[ -n "$base" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ] \
  || { cat "$work/serve.log" >&2; echo "serving.sh: the server was not ready in 180 s" >&2; exit 1; }

echo "# herd serving benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "# model: generated, make-test-model $model_args, F32 GGUF"
grep -h 'loaded in\|herd cluster: epoch' "$work/serve.log" | sed 's/^/# /' || true
if [ "$nodes" -gt 0 ]; then echo "# $nodes shard node processes on loopback, --threads $threads each"; fi
# warm-up (JIT, buffers), not reported: enough steps that the single-request level is not measured half
# interpreted (with 8 short requests it was, and ran at two thirds of its steady speed on the small model)
node "$root/ops/bench/serving-load.mjs" --url "$base" --model bench --concurrency 8 --requests 32 --max-tokens 32 \
  --prompt-words "$prompt_words" --json >/dev/null
echo "# load: streamed /v1/completions, $prompt_words-word prompts, max_tokens $max_tokens, temperature 0.8"
for c in $levels; do
  requests=$(( c * 2 > 8 ? c * 2 : 8 ))
  node "$root/ops/bench/serving-load.mjs" --url "$base" --model bench --concurrency "$c" --requests "$requests" \
    --max-tokens "$max_tokens" --prompt-words "$prompt_words"
done
