#!/usr/bin/env bash
# Cluster decode benchmark: tokens/s, per-token latency (p50/p99, per step on the coordinator) and bytes on the wire
# per token of one greedy sequence through 1, 2 and 4 shard-node processes, against single-process decode of the
# same model in the same run; then nodes in separate network namespaces on a shaped link, pipeline-only against
# remote-expert plans for the same nodes.
#
#   sudo ops/bench/cluster.sh                 # both parts, 3 interleaved rounds
#   ROUNDS=5 PARTS=loopback ops/bench/cluster.sh
#
# Settings (environment):
#   PARTS         "loopback netns" (default both)
#   ROUNDS        rounds; every configuration runs once per round, configurations interleaved (default 3)
#   GEN_TOKENS    decode steps per timed sequence (64); REPETITIONS timed sequences per run (3);
#   WARMUP_TOKENS decode steps of an untimed first sequence per run (1000: until the data path's Java code is
#                 compiled; with 32 a 2-node step costs about 2 ms more); PROMPT_TOKENS prompt length (16)
#   LINK_GBIT     shaped link rate, Gbit/s (10); RTT_US target round trip between namespaces, us (200)
#   LOOPBACK_RUNS configurations of the loopback part (default "local1 local2 lo1 lo2 lo4 lo2remote")
#   NETNS_RUNS    configurations of the namespace part (default "local1 p2 r2 p4 r4")
#   MODEL         another GGUF to run instead of the generated one (node memory is sized from its file size)
#   WORK          where the model and results go (build-cache/cluster)
#   HERD_JAR      a built CLI jar (default cli/target/herd.jar, built with `mvnw package` when missing or older
#                 than the sources)
#
# Threads: every node computes on 1 thread (--threads 1); the single-process baseline runs with 1 and 2 threads.
#
# The model (generated once): Mixtral-shaped, hidden 2048, 8 layers, 16 heads (4 KV), 8 experts top-2 of ffn 2048,
# vocab 32000, Q8_0 (1.09 GB).
#
# Loopback part: every process (coordinator and nodes) runs in one fresh network namespace, so that its loopback
# interface carries only this benchmark's traffic and its transmit counter is the IP bytes per token. Each node
# advertises 1.15/N of the model's bytes (plus a KV reserve), which forces the planner into N pipeline stages; the
# remote-expert variant is 2 nodes of 0.6 of the model each with the plan limited to 1 stage (so one node runs every
# layer's attention and some experts, the other holds the rest of the experts).
#
# Namespace part: the coordinator and each node in a namespace of its own, each joined to a bridge by a veth pair
# whose namespace end is shaped with `tbf` at LINK_GBIT. This kernel has no `netem`, so latency is added in user
# space: in front of each node's gRPC port sits ops/bench/cluster/LinkDelay.java (a relay that holds every chunk
# for a one-way delay in each direction), and the node advertises the relay's address, so every gRPC connection
# (coordinator to first stage, stage to stage, stage to expert node) crosses one relay. The relay's delay is
# calibrated until a 64-byte TCP round trip through it measures about RTT_US (p50); the measured round trip and
# the bulk rate through tbf are recorded, and so are round trips 5 ms apart (what a hop costs when the machine
# has been idle, as between decode steps). Hazelcast traffic is shaped but not delayed.
#
# Everything the script starts (processes by pid, namespaces) is removed on exit, also on failure. Needs root
# (namespaces), JDK 25 (bin/java-home.sh) and node 20+ (the summary).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/bin/java-home.sh"

parts="${PARTS:-loopback netns}"
rounds="${ROUNDS:-3}"
gen="${GEN_TOKENS:-64}"
reps="${REPETITIONS:-3}"
warmup="${WARMUP_TOKENS:-1000}"
prompt="${PROMPT_TOKENS:-16}"
link_gbit="${LINK_GBIT:-10}"
rtt_us="${RTT_US:-200}"
work="${WORK:-$root/build-cache/cluster}"
jar="${HERD_JAR:-$root/cli/target/herd.jar}"
linkdelay="$root/ops/bench/cluster/LinkDelay.java"

die() { echo "cluster.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v node >/dev/null || die "node 20+ is needed for the summary"
command -v ip >/dev/null && command -v tc >/dev/null || die "needs iproute2 (ip, tc)"

# As bin/herd starts the JVM: native access, and Hazelcast's opens so it does not warn
jvm=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
  --add-modules java.se --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.management/sun.management=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED -Xmx1g)
herd=("${jvm[@]}" -jar "$jar")
link=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED "$linkdelay")

# ---- cleanup: only what this script started
tag="hcb$$"
pids=()
namespaces=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${namespaces[@]}"; do ip netns del "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

# ---- build and model
if [ ! -f "$jar" ] || [ -n "$(find "$root" -path "$root/*/target" -prune -o \( -name '*.java' -o -name pom.xml \
    -o -name '*.c' -o -name '*.proto' \) -newer "$jar" -not -path "$root/ops/*" -print -quit)" ]; then
  echo "cluster.sh: building the CLI jar" >&2
  (cd "$root" && ./mvnw -B -q --no-transfer-progress -pl cli -am package -DskipTests) >&2
fi
mkdir -p "$work/logs" "$work/results"
model="${MODEL:-$work/model-q8_0.gguf}"
[ -n "${MODEL:-}" ] && { [ -f "$MODEL" ] || die "no model file $MODEL"; }
if [ ! -f "$model" ]; then
  "${jvm[@]}" -jar "$jar" make-test-model --arch mixtral --hidden 2048 --layers 8 --heads 16 --kv-heads 4 \
    --experts 8 --top-k 2 --expert-ffn 2048 --vocab 32000 --seed 11 --no-hf --gguf Q8_0 --out "$work" >&2
fi
model_bytes=$(stat -c %s "$model")
# node memory for a plan of N pipeline stages: 1.15/N of the model plus KV reserve and slack
mem_for() { awk -v b="$model_bytes" -v f="$1" 'BEGIN { printf "%.4f", b * f / 1e9 + 0.05 }'; }

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$work/results/cluster-$stamp.jsonl"
logs="$work/logs/$stamp"
mkdir -p "$logs"
: >"$results"
record() { echo "$1" >>"$results"; echo "$1" | cut -c1-220 >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

bench_args=(--model "$model" --prompt-tokens "$prompt" --gen-tokens "$gen" --warmup-tokens "$warmup"
  --repetitions "$reps" --context-tokens 512)

# wait_ready LOG PID: until the node prints its ready line (or dies)
wait_ready() {
  local i
  for i in $(seq 1 600); do
    grep -q ': ready, grpc at' "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; die "a node died while starting (log $1)"; }
    sleep 0.2
  done
  cat "$1" >&2; die "a node was not ready after 120 s (log $1)"
}

add_label() { # add_label JSON KEY VALUE...: prepends string fields to a JSON object line
  local line="$1"; shift
  local prefix=""
  while [ $# -gt 0 ]; do prefix="$prefix\"$1\":\"$2\","; shift 2; done
  echo "{$prefix${line#\{}"
}

# ======================================================================== loopback
run_local() { # run_local PART ROUND THREADS: the model in one process (in the part's first namespace)
  local out ns load
  ns=$([ "$1" = loopback ] && echo "$lo_ns" || echo "${tag}c")
  load=$(load1)
  out=$(ip netns exec "$ns" "${herd[@]}" cluster-bench --local --threads "$3" --label "local-${3}t" \
    "${bench_args[@]}" 2>>"$logs/local.log") || die "local run failed (log $logs/local.log)"
  record "$(add_label "$out" part "$1" round "$2" load_before "$load")"
}

# run_loopback ROUND LABEL NODES MEM_FRACTION EXPECT_STAGES EXPECT_REMOTE [cluster-bench options...]
run_loopback() {
  local round="$1" label="$2" n="$3" frac="$4" stages="$5" remote="$6"; shift 6
  local mem seeds i log out load
  load=$(load1)
  mem=$(mem_for "$frac")
  seeds="127.0.0.1:5701"
  for i in $(seq 1 "$n"); do seeds="$seeds,127.0.0.1:$((5701 + i))"; done
  for i in $(seq 1 "$n"); do
    log="$logs/$label-r$round-node$i.log"
    ip netns exec "$lo_ns" "${herd[@]}" shard --model "$model" --node-id "node-$i" --host 127.0.0.1 \
      --hz-port $((5701 + i)) --seeds "$seeds" --cluster-name "$tag-$label-$round" --memory-gb "$mem" \
      --threads 1 --link-gbps 10 --rtt-us 25 >"$log" 2>&1 &
    pids+=($!)
  done
  for i in $(seq 1 "$n"); do wait_ready "$logs/$label-r$round-node$i.log" "${pids[$((i - 1))]}"; done
  out=$(ip netns exec "$lo_ns" "${herd[@]}" cluster-bench --label "$label" --host 127.0.0.1 --hz-port 5701 \
    --seeds "$seeds" --cluster-name "$tag-$label-$round" --nodes "$n" --expect-stages "$stages" \
    --expect-remote-experts "$remote" --netdev /proc/self/net/dev:lo "${bench_args[@]}" "$@" \
    2>"$logs/$label-r$round-coordinator.log") || { stop_all; die "$label failed (log $logs/$label-r$round-coordinator.log)"; }
  stop_all
  record "$(add_label "$out" part loopback round "$round" node_memory_gb "$mem" load_before "$load")"
}

if [[ " $parts " == *" loopback "* ]]; then
  lo_ns="${tag}lo"
  ip netns add "$lo_ns"; namespaces+=("$lo_ns")
  ip -n "$lo_ns" link set lo up
  read -r -a configs <<<"${LOOPBACK_RUNS:-local1 local2 lo1 lo2 lo4 lo2remote}"
  for round in $(seq 1 "$rounds"); do
    # a different configuration goes first each round, so none is always measured right after the same one
    for k in $(seq 0 $((${#configs[@]} - 1))); do
      c="${configs[$(( (k + round - 1) % ${#configs[@]} ))]}"
      case "$c" in
        local1) run_local loopback "$round" 1 ;;
        local2) run_local loopback "$round" 2 ;;
        lo1) run_loopback "$round" loopback-1 1 1.15 1 false ;;
        lo2) run_loopback "$round" loopback-2 2 0.575 2 false ;;
        lo4) run_loopback "$round" loopback-4 4 0.2875 4 false ;;
        lo2remote) run_loopback "$round" loopback-2-remote 2 0.6 1 true --max-stages 1 ;;
        *) die "unknown loopback configuration '$c'" ;;
      esac
    done
  done
fi

# ======================================================================== network namespaces
if [[ " $parts " == *" netns "* ]]; then
  sw="${tag}sw"
  ip netns add "$sw"; namespaces+=("$sw")
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  # ns_join NAME ADDRESS: a namespace on the bridge, its uplink shaped to LINK_GBIT
  ns_join() {
    ip netns add "$1"; namespaces+=("$1")
    ip -n "$sw" link add "v$2" type veth peer name eth0 netns "$1"
    ip -n "$sw" link set "v$2" master br0 up
    ip -n "$1" addr add "10.77.0.$2/24" dev eth0
    ip -n "$1" link set eth0 up
    ip -n "$1" link set lo up
    # burst: a few 64 KiB segments (veth hands tbf GSO packets); latency bounds the queue
    tc -n "$1" qdisc add dev eth0 root tbf rate "${link_gbit}gbit" burst 512kb latency 5ms
  }
  ns_join "${tag}c" 1
  for i in 1 2 3 4; do ns_join "${tag}n$i" $((1 + i)); done

  # probes: the bulk rate through tbf, and the relay's delay calibrated to the target round trip
  ip netns exec "${tag}n1" "${link[@]}" sink 10.77.0.2:7902 >"$logs/sink.log" 2>&1 & pids+=($!)
  ip netns exec "${tag}n1" "${link[@]}" echo 10.77.0.2:7900 >"$logs/echo.log" 2>&1 & pids+=($!)
  sleep 3
  out=$(ip netns exec "${tag}c" "${link[@]}" blast 10.77.0.2:7902 3)
  record "$(add_label "$out" part netns probe bulk shaped_gbit "$link_gbit")"
  # The relay's delay is set so that back-to-back 64-byte round trips through it measure RTT_US (p50): the link's
  # round trip. Pings 5 ms apart are recorded too: between decode steps the machine idles for milliseconds, and
  # waking up (on this kind of virtual machine a large part of a hop) is paid on top of the link, by every plan.
  out=$(ip netns exec "${tag}c" "${link[@]}" ping 10.77.0.2:7900 2000 64)
  record "$(add_label "$out" part netns probe rtt-direct)"
  out=$(ip netns exec "${tag}c" "${link[@]}" ping 10.77.0.2:7900 400 64 5000)
  record "$(add_label "$out" part netns probe rtt-direct)"
  one_way=$(( rtt_us / 2 ))
  for attempt in 1 2 3 4; do
    ip netns exec "${tag}n1" "${link[@]}" relay 10.77.0.2:7901 10.77.0.2:7900 "$one_way" >"$logs/relay-probe.log" 2>&1 &
    relay=$!; pids+=($relay)
    sleep 3
    out=$(ip netns exec "${tag}c" "${link[@]}" ping 10.77.0.2:7901 2000 64)
    kill "$relay"; wait "$relay" 2>/dev/null || true
    p50=$(echo "$out" | sed -n 's/.*"p50":\([0-9.]*\).*/\1/p')
    echo "cluster.sh: relay one-way ${one_way} us gives a ${p50} us round trip (target ${rtt_us})" >&2
    close=$(awk -v m="$p50" -v t="$rtt_us" 'BEGIN { print (m > t * 0.95 && m < t * 1.05) ? 1 : 0 }')
    { [ "$close" = 1 ] || [ "$attempt" = 4 ]; } && break
    one_way=$(awk -v d="$one_way" -v m="$p50" -v t="$rtt_us" 'BEGIN { n = d - (m - t) / 2; if (n < 0) n = 0; printf "%d", n + 0.5 }')
  done
  record "$(add_label "$out" part netns probe rtt-relay relay_one_way_us "$one_way")"
  ip netns exec "${tag}n1" "${link[@]}" relay 10.77.0.2:7901 10.77.0.2:7900 "$one_way" >"$logs/relay-probe.log" 2>&1 &
  pids+=($!)
  sleep 3
  out=$(ip netns exec "${tag}c" "${link[@]}" ping 10.77.0.2:7901 400 64 5000)
  record "$(add_label "$out" part netns probe rtt-relay relay_one_way_us "$one_way")"
  stop_all

  # run_netns ROUND LABEL NODES MEM_FRACTION EXPECT_STAGES EXPECT_REMOTE [cluster-bench options...]
  run_netns() {
    local round="$1" label="$2" n="$3" frac="$4" stages="$5" remote="$6"; shift 6
    local mem seeds i ip log out netdevs node_pids=() load
    load=$(load1)
    mem=$(mem_for "$frac")
    seeds="10.77.0.1:5701"
    for i in $(seq 1 "$n"); do seeds="$seeds,10.77.0.$((1 + i)):5701"; done
    for i in $(seq 1 "$n"); do
      ip="10.77.0.$((1 + i))"
      ip netns exec "${tag}n$i" "${link[@]}" relay "$ip:7001" "$ip:7000" "$one_way" \
        >"$logs/$label-r$round-relay$i.log" 2>&1 &
      pids+=($!)
      log="$logs/$label-r$round-node$i.log"
      ip netns exec "${tag}n$i" "${herd[@]}" shard --model "$model" --node-id "node-$i" --host "$ip" \
        --grpc-port 7000 --advertise-grpc "$ip:7001" --hz-port 5701 --seeds "$seeds" \
        --cluster-name "$tag-$label-$round" --memory-gb "$mem" --threads 1 --link-gbps "$link_gbit" \
        --rtt-us "$rtt_us" >"$log" 2>&1 &
      pids+=($!)
      node_pids+=($!)
    done
    netdevs="/proc/self/net/dev:eth0"
    for i in $(seq 1 "$n"); do
      wait_ready "$logs/$label-r$round-node$i.log" "${node_pids[$((i - 1))]}"
      netdevs="$netdevs,/proc/${node_pids[$((i - 1))]}/net/dev:eth0"
    done
    out=$(ip netns exec "${tag}c" "${herd[@]}" cluster-bench --label "$label" --host 10.77.0.1 --hz-port 5701 \
      --seeds "$seeds" --cluster-name "$tag-$label-$round" --nodes "$n" --expect-stages "$stages" \
      --expect-remote-experts "$remote" --netdev "$netdevs" "${bench_args[@]}" "$@" \
      2>"$logs/$label-r$round-coordinator.log") || { stop_all; die "$label failed (log $logs/$label-r$round-coordinator.log)"; }
    stop_all
    record "$(add_label "$out" part netns round "$round" node_memory_gb "$mem" link_gbit "$link_gbit" \
      relay_one_way_us "$one_way" load_before "$load")"
  }

  read -r -a configs <<<"${NETNS_RUNS:-local1 p2 r2 p4 r4}"
  for round in $(seq 1 "$rounds"); do
    for k in $(seq 0 $((${#configs[@]} - 1))); do
      c="${configs[$(( (k + round - 1) % ${#configs[@]} ))]}"
      case "$c" in
        local1) run_local netns "$round" 1 ;;
        p2) run_netns "$round" netns-2-pipeline 2 0.575 2 false ;;
        r2) run_netns "$round" netns-2-remote 2 0.575 1 true --max-stages 1 ;;
        p4) run_netns "$round" netns-4-pipeline 4 0.2875 4 false ;;
        r4) run_netns "$round" netns-4-remote 4 0.2875 2 true --max-stages 2 ;;
        *) die "unknown namespace configuration '$c'" ;;
      esac
    done
  done
fi

echo "# herd cluster benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "# model: $(basename "$model") ($model_bytes bytes); rounds $rounds, $reps x $gen decode steps per run after $warmup warm-up steps, prompt $prompt tokens"
echo "# results: $results"
node "$root/ops/bench/cluster/summary.mjs" "$results"
