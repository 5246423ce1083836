package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.kernels.NativeBackend;
import dev.herd.model.forward.KvBlockStore;
import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Transformer;
import dev.herd.model.generate.GreedyDecoder;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.ModelWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code herd bench}: prefill and decode speed of one sequence on this process, the way llama.cpp's
 * llama-bench measures them (pp: a prompt of N tokens in one pass; tg: N tokens generated one at a time).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure prefill (pp) and decode (tg) tokens/s of a model in this process.",
                "Prints one JSON line per measurement."})
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "model directory or .gguf file")
    Path model;
    @Option(names = "--prompt-tokens", defaultValue = "128", description = "prefill length (default ${DEFAULT-VALUE})")
    int promptTokens;
    @Option(names = "--gen-tokens", defaultValue = "64", description = "decode steps (default ${DEFAULT-VALUE})")
    int genTokens;
    @Option(names = "--repetitions", defaultValue = "3", description = "runs of each; the best is kept too (default ${DEFAULT-VALUE})")
    int repetitions;
    @Option(names = "--triad", description = "also measure memory bandwidth (STREAM-like triad) with the native kernels")
    boolean triad;
    @Option(names = "--no-repack", description = "native kernels on the file's weight layout, without repacked copies"
            + " (to measure what repacking gives)")
    boolean noRepack;
    @Mixin
    BackendOptions backendOptions;

    @Override
    public Integer call() {
        try (ModelFiles files = ModelFiles.open(model);
             ModelWeights weights = new ModelWeights(files.config(), files.store(), files.format());
             Backend backend = noRepack ? inPlaceNative() : backendOptions.create(System.err)) {
            Transformer t = new Transformer(weights, backend);
            int vocab = files.config().vocabSize();
            SplittableRandom r = new SplittableRandom(1);
            int[] prompt = r.ints(promptTokens, 0, vocab).toArray();
            // warm-up, a whole run as llama.cpp's script does: the full prompt routes tokens to (nearly) every
            // expert, so every weight has been touched (and repacked where the kernels do) before the timed runs,
            // and the JIT has compiled the hot loops
            long warmStart = System.nanoTime();
            new GreedyDecoder(t).generate(prompt, 4, java.util.Set.of(), id -> { });
            double warmSeconds = (System.nanoTime() - warmStart) / 1e9;
            double[] pp = new double[repetitions];
            double[] tg = new double[repetitions];
            for (int i = 0; i < repetitions; i++) {
                // a store sized to the run, allocated before the clock starts (as a server's is at start-up)
                int blocks = Math.max(1, (promptTokens + genTokens + KvBlockStore.DEFAULT_BLOCK_TOKENS - 1)
                        / KvBlockStore.DEFAULT_BLOCK_TOKENS);
                try (KvBlockStore store = KvBlockStore.bounded(files.config(), KvBlockStore.DEFAULT_BLOCK_TOKENS,
                        blocks)) {
                    KvCache cache = new KvCache(store);
                    long s = System.nanoTime();
                    float[] logits = t.forward(prompt, cache);
                    pp[i] = promptTokens / ((System.nanoTime() - s) / 1e9);
                    int next = GreedyDecoder.argmax(logits);
                    s = System.nanoTime();
                    for (int g = 0; g < genTokens; g++) {
                        next = GreedyDecoder.argmax(t.forward(new int[]{next}, cache));
                    }
                    tg[i] = genTokens / ((System.nanoTime() - s) / 1e9);
                }
            }
            report("pp" + promptTokens, pp, backend, 0);
            report("tg" + genTokens, tg, backend, activeWeightBytes(files));
            if (backend instanceof NativeBackend nb) {
                // what the kernels' weight layout cost: the copies and their build time, and the process's
                // resident memory split into anonymous (heap, repacked copies) and file-backed (mapped weights)
                NativeBackend.RepackStats packed = nb.repackStats();
                System.out.println(String.format(Locale.ROOT,
                        "{\"engine\":\"herd\",\"model\":\"%s\",\"warmup_seconds\":%.3f,\"repacked_tensors\":%d,"
                                + "\"repacked_gb\":%.3f,\"repack_seconds\":%.3f%s}", model.getFileName(), warmSeconds,
                        packed.tensors(), packed.bytes() / 1e9, packed.nanos() / 1e9, residentMemory()));
            }
            if (triad && backend instanceof NativeBackend nb) {
                double gbs = nb.triadBandwidth(1L << 25, 5);
                System.out.println(String.format(Locale.ROOT,
                        "{\"engine\":\"triad\",\"threads\":%d,\"gb_per_s\":%.2f}", nb.threads(), gbs));
            }
        }
        return 0;
    }

    private void report(String test, double[] tokensPerSecond, Backend backend, long bytesPerToken) {
        double mean = Arrays.stream(tokensPerSecond).average().orElse(0);
        double best = Arrays.stream(tokensPerSecond).max().orElse(0);
        String bandwidth = bytesPerToken == 0 ? "" : String.format(Locale.ROOT,
                ",\"weight_bytes_per_token\":%d,\"weight_gb_per_s\":%.2f", bytesPerToken, bytesPerToken * mean / 1e9);
        System.out.println(String.format(Locale.ROOT,
                "{\"engine\":\"herd\",\"backend\":\"%s\",\"model\":\"%s\",\"test\":\"%s\",\"mean_tps\":%.2f,\"best_tps\":%.2f,\"runs\":%s%s}",
                backend.name(), model.getFileName(), test, mean, best, Arrays.toString(tokensPerSecond), bandwidth));
    }

    private NativeBackend inPlaceNative() {
        int n = backendOptions.threads != null ? backendOptions.threads : Runtime.getRuntime().availableProcessors();
        try {
            NativeBackend b = NativeBackend.load(n, NativeBackend.Isa.AUTO, NativeBackend.DEFAULT_SPIN_MICROS, false);
            System.err.println("herd: using native CPU kernels (" + b.isa() + ", " + n + " threads), weights not repacked");
            return b;
        } catch (dev.herd.kernels.NativeUnavailableException e) {
            throw new IllegalArgumentException("--no-repack needs the native kernels: " + e.getMessage());
        }
    }

    /** Resident memory from /proc/self/status as JSON fields (empty where there is no such file). */
    private static String residentMemory() {
        StringBuilder sb = new StringBuilder();
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
                String[] kv = line.split(":\\s+");
                if (kv.length == 2 && (kv[0].equals("RssAnon") || kv[0].equals("RssFile") || kv[0].equals("VmHWM"))) {
                    long kb = Long.parseLong(kv[1].replace(" kB", "").trim());
                    sb.append(String.format(Locale.ROOT, ",\"%s_gb\":%.3f", kv[0].toLowerCase(Locale.ROOT), kb / 1e6));
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return "";
        }
        return sb.toString();
    }

    /**
     * Weight bytes one decode step reads: every tensor except the embedding (one row) and, of routed expert
     * tensors, the top-k share.
     */
    static long activeWeightBytes(ModelFiles files) {
        var moe = files.config().moe();
        double total = 0;
        for (String name : files.store().names()) {
            var t = files.store().find(name);
            if (t.isEmpty() || name.contains("embed_tokens") || name.startsWith("token_embd")) {
                continue;
            }
            double bytes = t.get().data().byteSize();
            boolean routed = name.contains("_exps.") || name.contains(".experts.");
            total += routed && moe != null ? bytes * moe.topK() / moe.numExperts() : bytes;
        }
        return (long) total;
    }
}
