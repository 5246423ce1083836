// Greedy decoding with llama.cpp on a GGUF file, for comparison with Herd.
// usage: node greedy.mjs <model.gguf> <comma-separated prompt token ids> <steps> [threads] [forced ids]
// With forced ids (comma-separated, at least <steps> of them) the sequence is teacher-forced: step i feeds
// forced[i] whatever llama.cpp would have chosen, so logits can be compared position by position.
// prints one JSON object: {"tokens": [...], "top": [[[id, logit], ...], ...]} where top[i] holds llama.cpp's raw
// logits of the five most likely next tokens at generation step i, largest first.
import {getLlama} from "node-llama-cpp";

const [modelPath, promptArg, stepsArg, threadsArg, forcedArg] = process.argv.slice(2);
if (!modelPath || !promptArg || !stepsArg) {
    console.error("usage: node greedy.mjs <model.gguf> <ids,comma,separated> <steps> [threads]");
    process.exit(2);
}
const prompt = promptArg.split(",").map(Number);
const steps = Number(stepsArg);
const threads = Number(threadsArg ?? 1);
const forced = forcedArg ? forcedArg.split(",").map(Number) : null;

const llama = await getLlama({gpu: false, logLevel: "error", build: "never"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
// Keep the KV cache in F32 (llama.cpp defaults to F16) and flash attention off (on the CPU it rounds K and V
// to F16 whatever the cache type), so that an F32 model is compared without rounding. Both can be overridden.
const kvType = process.env.HERD_LLAMACPP_KV_TYPE ?? "F32";
const flashAttention = process.env.HERD_LLAMACPP_FLASH_ATTENTION === "1";
const context = await model.createContext({
    contextSize: 512, threads, batchSize: 512, sequences: 1, flashAttention,
    experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType
});
const sequence = context.getSequence();

const tokens = [];
const top = [];
let input = prompt;
for (let i = 0; i < steps; i++) {
    const items = input.map((t, j) => j === input.length - 1
        ? [t, {generateNext: {token: true, logits: {filter: {includeTop: 5}}, options: {temperature: 0}}}]
        : t);
    const out = await sequence.controlledEvaluate(items);
    const last = out[input.length - 1];
    const next = last.next.token;
    const logits = [...last.next.logits.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
    tokens.push(next);
    top.push(logits);
    input = [forced ? forced[i] : next];
}
console.log(JSON.stringify({tokens, top}));
await context.dispose();
await model.dispose();
await llama.dispose();
