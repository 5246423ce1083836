#!/usr/bin/env bash
# Weight transfer throughput on loopback, one JVM: a holder serves a generated Mixtral-shaped F32 GGUF in 1 MiB
# chunks and a fetcher receives every tensor (SHA-256 on both sides, written to its cache and flushed); then a
# restarted fetcher reuses the cache (every tensor hashed again).
#
# usage: ops/bench/weight-transfer.sh [hidden expert_ffn]    (default 1024 2048: about 400 MiB)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
source bin/java-home.sh

cpfile="$(mktemp)"
trap 'rm -f "$cpfile"' EXIT
bin/mvn -q -pl shard-node -am test-compile dependency:build-classpath -Dmdep.includeScope=test \
    -Dmdep.outputFile="$cpfile"
cp="shard-node/target/test-classes:shard-node/target/classes:$(cat "$cpfile")"

exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx1g -cp "$cp" \
    dev.herd.shard.weights.WeightTransferBench "$@"
