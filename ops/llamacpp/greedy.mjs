// Greedy decoding with llama.cpp on a GGUF file, for comparison with Herd.
// usage: node greedy.mjs <model.gguf> <comma-separated prompt token ids> <steps> [threads]
// prints one JSON object: {"tokens": [...], "top": [[[id, prob], ...], ...]} where top[i] holds the five most
// probable next tokens (after softmax of llama.cpp's logits) at generation step i.
import {getLlama} from "node-llama-cpp";

const [modelPath, promptArg, stepsArg, threadsArg] = process.argv.slice(2);
if (!modelPath || !promptArg || !stepsArg) {
    console.error("usage: node greedy.mjs <model.gguf> <ids,comma,separated> <steps> [threads]");
    process.exit(2);
}
const prompt = promptArg.split(",").map(Number);
const steps = Number(stepsArg);
const threads = Number(threadsArg ?? 1);

const llama = await getLlama({gpu: false, logLevel: "error", build: "never"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({contextSize: 512, threads, batchSize: 512, sequences: 1});
const sequence = context.getSequence();

const tokens = [];
const top = [];
let input = prompt;
for (let i = 0; i < steps; i++) {
    const items = input.map((t, j) => j === input.length - 1
        ? [t, {generateNext: {token: true, probabilities: true, options: {temperature: 0}}}]
        : t);
    const out = await sequence.controlledEvaluate(items);
    const last = out[input.length - 1];
    const next = last.next.token;
    const probs = [...last.next.probabilities.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
    tokens.push(next);
    top.push(probs);
    input = [next];
}
console.log(JSON.stringify({tokens, top}));
await context.dispose();
await model.dispose();
await llama.dispose();
