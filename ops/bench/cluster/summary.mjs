// Summarises ops/bench/cluster.sh results (one JSON object per line) as Markdown tables: per configuration the
// median over rounds and the range, and each cluster run's tokens/s as a ratio to the single-process 1-thread run
// of the same round (configurations are interleaved within a round, so the per-round ratio cancels much of the
// machine's drift).
//
//   node ops/bench/cluster/summary.mjs build-cache/cluster/results/cluster-<stamp>.jsonl
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node summary.mjs RESULTS.jsonl");
  process.exit(2);
}
const rows = readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const range = (xs) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
const kb = (x) => (x === undefined ? "-" : x >= 1024 ? `${(x / 1024).toFixed(1)} KiB` : `${x.toFixed(0)} B`);

const runs = rows.filter((r) => r.mode);
const probes = rows.filter((r) => r.probe);
const baseline = new Map(); // part/round -> local-1t tokens/s of that part's round
for (const r of runs) if (r.label === "local-1t") baseline.set(`${r.part}/${r.round}`, r.tokens_per_s_mean);
const tpsOf = new Map(); // part/label/round -> tokens/s
for (const r of runs) tpsOf.set(`${r.part}/${r.label}/${r.round}`, r.tokens_per_s_mean);

// the local runs' tokens are the reference: every cluster run must have generated the same ones
const reference = runs.find((r) => r.mode === "local")?.tokens;

const byLabel = new Map(); // part/label -> runs
for (const r of runs) {
  const key = `${r.part}/${r.label}`;
  if (!byLabel.has(key)) byLabel.set(key, []);
  byLabel.get(key).push(r);
}

for (const part of ["loopback", "netns"]) {
  const labels = [...byLabel.keys()].filter((k) => byLabel.get(k)[0].part === part);
  if (!labels.length) continue;
  console.log(`\n## ${part === "loopback" ? "Loopback (one namespace)" : "Network namespaces, shaped link"}\n`);
  if (part === "netns") {
    for (const p of probes) {
      if (p.probe === "bulk") console.log(`- bulk TCP through tbf ${p.shaped_gbit} Gbit/s: ${fmt(p.gbit_per_s, 2)} Gbit/s`);
      const gap = p.gap_us ? `${p.gap_us / 1000} ms apart` : "back to back";
      if (p.probe === "rtt-direct") console.log(`- round trip, 64 B, ${gap}, direct: p50 ${fmt(p.rtt_us.p50)} us, p99 ${fmt(p.rtt_us.p99)} us`);
      if (p.probe === "rtt-relay")
        console.log(`- round trip, 64 B, ${gap}, through the delay relay (one-way ${p.relay_one_way_us} us): p50 ${fmt(p.rtt_us.p50)} us, p99 ${fmt(p.rtt_us.p99)} us`);
    }
    console.log("");
  }
  console.log("| run | plan | tokens/s (median, range) | vs 1-thread process (median, range) | step p50 ms | step p99 ms | gRPC bytes/token | IP bytes/token | IP packets/token | tokens equal | load before (median) |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const label of labels) {
    const rs = byLabel.get(label);
    const tps = rs.map((r) => r.tokens_per_s_mean);
    const ratios = rs.filter((r) => baseline.has(`${part}/${r.round}`))
      .map((r) => r.tokens_per_s_mean / baseline.get(`${part}/${r.round}`));
    const plan = rs[0].mode === "local" ? `1 process, ${rs[0].threads} thread(s)`
      : `${rs[0].stages} stage(s), ${rs[0].remote_experts} remote experts, ${rs[0].nodes} node(s)`;
    const grpc = rs[0].grpc_bytes_per_token ? kb(median(rs.map((r) => r.grpc_bytes_per_token.total))) : "-";
    const ip = rs[0].ip_bytes_per_token !== undefined && rs[0].mode !== "local"
      ? kb(median(rs.map((r) => r.ip_bytes_per_token))) : "-";
    const pk = rs[0].ip_packets_per_token !== undefined && rs[0].mode !== "local"
      ? fmt(median(rs.map((r) => r.ip_packets_per_token))) : "-";
    const equal = reference ? (rs.every((r) => JSON.stringify(r.tokens) === JSON.stringify(reference)) ? "yes" : "NO") : "?";
    console.log(`| ${rs[0].label} | ${plan} | ${fmt(median(tps))} (${range(tps)}) | ${ratios.length ? `${fmt(median(ratios), 2)}x (${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)})` : "-"} | ${fmt(median(rs.map((r) => r.step_ms.p50)), 2)} | ${fmt(median(rs.map((r) => r.step_ms.p99)), 2)} | ${grpc} | ${ip} | ${pk} | ${equal} | ${fmt(median(rs.map((r) => Number(r.load_before ?? NaN))), 2)} |`);
  }
  if (part === "netns") {
    for (const n of [2, 4]) {
      const ratios = byLabel.get(`netns/netns-${n}-remote`)?.map((r) => r.tokens_per_s_mean
        / tpsOf.get(`netns/netns-${n}-pipeline/${r.round}`)).filter((x) => x > 0);
      if (ratios?.length)
        console.log(`\n${n} nodes: remote-expert plan at ${fmt(median(ratios), 2)}x the pipeline's tokens/s (per round ${ratios.map((x) => fmt(x, 2)).join(", ")})`);
    }
  }
  console.log("");
  for (const label of labels) {
    const r = byLabel.get(label)[0];
    if (r.plan) console.log(`- ${r.label}: ${r.plan}`);
    if (r.grpc_bytes_per_token) {
      const g = r.grpc_bytes_per_token;
      console.log(`  gRPC per token: stage inputs ${kb(g.stage_inputs)} in ${fmt(g.stage_messages, 2)} msgs, expert requests ${kb(g.expert_requests)} in ${fmt(g.expert_calls, 2)} calls, expert answers ${kb(g.expert_responses)}`);
    }
    const rs = byLabel.get(label).filter((x) => x.stage_ms_per_token);
    if (rs.length) {
      // what the stages' layers take against the coordinator's step: the rest is the hops between them
      const run = median(rs.map((x) => x.stage_ms_per_token.run));
      const queued = median(rs.map((x) => x.stage_ms_per_token.queued));
      const step = median(rs.map((x) => x.step_ms.mean));
      console.log(`  per token (medians): step ${fmt(step, 2)} ms = stages running ${fmt(run, 2)} ms + waiting for their worker ${fmt(queued, 3)} ms + hops ${fmt(step - run - queued, 2)} ms`);
    }
  }
}
