// llama.cpp's prefill and decode speed on a GGUF file, measured like `herd bench` (and llama-bench):
// pp = a prompt of N random tokens in one pass, tg = N tokens generated one at a time.
// usage: node bench.mjs <model.gguf> <prompt tokens> <gen tokens> <threads> [repetitions]
// prints one JSON line per measurement.
import {getLlama} from "node-llama-cpp";

const [modelPath, ppArg, tgArg, threadsArg, repsArg] = process.argv.slice(2);
if (!modelPath || !ppArg || !tgArg || !threadsArg) {
    console.error("usage: node bench.mjs <model.gguf> <prompt tokens> <gen tokens> <threads> [repetitions]");
    process.exit(2);
}
const pp = Number(ppArg), tg = Number(tgArg), threads = Number(threadsArg), reps = Number(repsArg ?? 3);
const llama = await getLlama({gpu: false, logLevel: "error", build: "never"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
let seed = 1;
const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
// token ids below 256 exist in every vocabulary Herd generates (the byte tokens)
const prompt = Array.from({length: pp}, () => rand(256));

const ppRuns = [], tgRuns = [];
for (let r = 0; r <= reps; r++) {
    const context = await model.createContext({contextSize: pp + tg + 16, threads, batchSize: Math.max(pp, 512),
        sequences: 1});
    const sequence = context.getSequence();
    let t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const ppTime = (performance.now() - t0) / 1000;
    let next = prompt[prompt.length - 1];
    t0 = performance.now();
    let count = 0;
    for await (const token of sequence.evaluate([next], {temperature: 0})) {
        if (++count >= tg) break;
    }
    const tgTime = (performance.now() - t0) / 1000;
    await context.dispose();
    if (r === 0) continue; // warm-up run
    ppRuns.push(pp / ppTime);
    tgRuns.push(tg / tgTime);
}
const report = (test, runs) => console.log(JSON.stringify({engine: "llama.cpp", threads, model: modelPath.split("/").pop(),
    test, mean_tps: runs.reduce((a, b) => a + b, 0) / runs.length, best_tps: Math.max(...runs), runs}));
report("pp" + pp, ppRuns);
report("tg" + tg, tgRuns);
await model.dispose();
await llama.dispose();
