// Load generator for `herd serve`: keeps CONCURRENCY streamed completions in flight until REQUESTS are done, and
// reports aggregate generated tokens/s and time to first token (p50, p99). Plain Node 20 (fetch), no packages.
//
//   node ops/bench/serving-load.mjs --url http://127.0.0.1:8000 --model NAME --concurrency 8 --requests 32 \
//        --max-tokens 64 [--api-key KEY] [--prompt-words 24] [--json]
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    model: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    requests: { type: 'string', default: '16' },
    'max-tokens': { type: 'string', default: '64' },
    'prompt-words': { type: 'string', default: '24' },
    'api-key': { type: 'string' },
    'timeout-s': { type: 'string', default: '300' },
    json: { type: 'boolean', default: false },
  },
});
if (!args.url || !args.model) {
  console.error('usage: serving-load.mjs --url BASE --model NAME [--concurrency N] [--requests N] [--max-tokens N]');
  process.exit(2);
}
const concurrency = Number(args.concurrency);
const total = Number(args.requests);
const maxTokens = Number(args['max-tokens']);
const words = ['the', 'herd', 'serves', 'large', 'models', 'on', 'many', 'machines', 'and', 'experts', 'route',
  'tokens', 'through', 'layers', 'while', 'batches', 'keep', 'every', 'core', 'busy'];

function prompt(i) {
  const n = Number(args['prompt-words']);
  const out = [];
  for (let k = 0; k < n; k++) out.push(words[(i * 7 + k * 3) % words.length]);
  return out.join(' ');
}

async function one(i) {
  const started = performance.now();
  const response = await fetch(`${args.url}/v1/completions`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(args['api-key'] ? { Authorization: `Bearer ${args['api-key']}` } : {}),
    },
    body: JSON.stringify({
      model: args.model, prompt: prompt(i), max_tokens: maxTokens, temperature: 0.8, seed: i, stream: true,
      stream_options: { include_usage: true },
    }),
    signal: AbortSignal.timeout(Number(args['timeout-s']) * 1000),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  let firstToken = null;
  let tokens = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const chunk = JSON.parse(event.slice(6));
      if (chunk.error) throw new Error(chunk.error.message);
      if (firstToken === null && chunk.choices?.length) firstToken = performance.now();
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  return { ttftMs: firstToken - started, tokens, ms: performance.now() - started };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

const results = [];
let next = 0;
const wall = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < total) {
    const i = next++;
    results.push(await one(i));
  }
}));
const seconds = (performance.now() - wall) / 1000;
const generated = results.reduce((s, r) => s + r.tokens, 0);
const ttft = results.map((r) => r.ttftMs).sort((a, b) => a - b);
const summary = {
  concurrency, requests: results.length, maxTokens, generatedTokens: generated, seconds: +seconds.toFixed(2),
  tokensPerSecond: +(generated / seconds).toFixed(1),
  ttftP50Ms: +percentile(ttft, 50).toFixed(1), ttftP99Ms: +percentile(ttft, 99).toFixed(1),
};
if (args.json) {
  console.log(JSON.stringify(summary));
} else {
  console.log(`concurrency ${String(concurrency).padStart(3)}: ${summary.requests} requests, `
    + `${generated} tokens in ${summary.seconds} s = ${summary.tokensPerSecond} tokens/s; `
    + `TTFT p50 ${summary.ttftP50Ms} ms, p99 ${summary.ttftP99Ms} ms`);
}
