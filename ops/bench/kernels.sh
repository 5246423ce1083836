#!/usr/bin/env bash
# Decode-shaped matrix-vector products on the native kernels (JMH), reported as GB/s of weights
# streamed and as a fraction of the machine's STREAM-style triad bandwidth (measured by the same
# library on the same threads).
#
# usage: ops/bench/kernels.sh [JMH options]    e.g.  ops/bench/kernels.sh -p type=Q4_K -p threads=1 -f 1
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
source bin/java-home.sh

bin/mvn -q -pl native-kernels -am test-compile
cpfile="$(mktemp)"
trap 'rm -f "$cpfile"' EXIT
bin/mvn -q -pl native-kernels dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$cpfile"
cp="native-kernels/target/test-classes:native-kernels/target/classes:$(cat "$cpfile")"

exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" dev.herd.kernels.MatmulBenchmark "$@"
