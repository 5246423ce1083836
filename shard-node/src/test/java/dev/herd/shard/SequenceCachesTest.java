package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.forward.Batch;
import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Segment;
import dev.herd.model.forward.Transformer;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.ModelWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A stage's caches over its block store: only the stage's layers are stored, a fork shares the prefix's blocks
 * and continues as the source would, and releasing gives blocks back.
 */
class SequenceCachesTest {
    @TempDir
    static Path dir;

    /** Runs {@code tokens} of {@code seq} from {@code position} through layers [1, 2) as a stage does. */
    private static float[] run(Transformer t, SequenceCaches caches, long seq, int position, int[] tokens) {
        KvCache cache = caches.extend(seq, position);
        float[] x = new float[tokens.length * t.config().hiddenSize()];
        t.embed(tokens, x);
        t.layers(1, 2, x, Batch.of(List.of(new Segment(cache, tokens))));
        cache.advance(tokens.length);
        return x;
    }

    @Test
    void forksShareBlocksAndReleaseGivesThemBack() {
        Path model = TestModels.write(dir, Architecture.MIXTRAL);
        try (ModelFiles files = ModelFiles.open(model);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format());
             ReferenceBackend backend = new ReferenceBackend(1);
             SequenceCaches caches = new SequenceCaches(files.config(), new LayerRange(1, 2))) {
            Transformer t = new Transformer(w, backend);
            int[] prompt = new int[40];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = 3 + 7 * i % 300;
            }
            assertEquals(0, caches.storedBytes(), "no store before the first sequence");
            run(t, caches, 1, 0, prompt);
            assertEquals(3, caches.storedBlocks(), "40 positions in blocks of 16");
            long bytes = caches.storedBytes();
            int perBlock = 2 * 16 * files.config().kvDim() * Float.BYTES; // one layer's keys and values
            assertEquals(0, bytes % perBlock, "blocks hold the stage's one layer only");

            caches.fork(2, 1, 32);
            assertEquals(3, caches.storedBlocks(), "a fork of two full blocks takes none");
            float[] forked = run(t, caches, 2, 32, new int[] {5, 6});
            caches.fork(3, 1, 32);
            float[] again = run(t, caches, 3, 32, new int[] {5, 6});
            assertArrayEquals(again, forked, "two forks of the same prefix compute the same");
            assertEquals(5, caches.storedBlocks());

            // a resent step cuts the source back into its shared blocks and re-runs: the forks are unaffected
            run(t, caches, 1, 20, new int[] {9, 9, 9});
            float[] third = run(t, caches, 3, 32, new int[] {5, 6});
            assertArrayEquals(forked, third);

            for (long seq : new long[] {1, 2, 3}) {
                assertEquals(true, caches.release(seq));
            }
            assertEquals(0, caches.storedBlocks(), "every block back");
            assertEquals(false, caches.release(1));
        }
    }
}
