package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.forward.Probe;
import dev.herd.proto.v1.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * BF16 on the wire: every activation crossing a node boundary is rounded to 8 significant bits, so the result
 * is close to one process but not equal, for half the bytes.
 */
class Bf16WireTest {
    static final int TOKENS = 16;

    @Test
    void bf16WireStaysCloseForHalfTheBytes(@TempDir Path dir) throws Exception {
        Path model = TestModels.write(dir, Architecture.MIXTRAL);
        try (ReferenceBackend backend = new ReferenceBackend(1)) {
            TestModels.Reference ref = TestModels.decode(model, backend, TOKENS);
            WireCounters.Snapshot f32 = run(model, backend, DType.DTYPE_F32, ref, new CopyOnWriteArrayList<>(), null);
            List<float[]> logits = new CopyOnWriteArrayList<>();
            int[] tokens = new int[TOKENS];
            WireCounters.Snapshot bf16 = run(model, backend, DType.DTYPE_BF16, ref, logits, tokens);

            // the prompt's logits (same input on both sides, so no earlier token differs): close, not equal
            float[] exact = ref.logits().getFirst();
            float[] rounded = logits.getFirst();
            assertFalse(Arrays.equals(exact, rounded), "BF16 rounding must show in the logits");
            double maxDiff = 0;
            double range = 0;
            for (int i = 0; i < exact.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(exact[i] - rounded[i]));
                range = Math.max(range, Math.abs(exact[i]));
            }
            int same = 0;
            for (int i = 0; i < TOKENS; i++) {
                same += ref.tokens()[i] == tokens[i] ? 1 : 0;
            }
            System.out.printf("BF16 wire: max |logit diff| %.4f of max |logit| %.2f on the prompt; %d of %d greedy"
                    + " tokens equal; stage bytes %d vs %d (F32), expert bytes %d vs %d (F32)%n", maxDiff, range,
                    same, TOKENS, bf16.stageInputBytes(), f32.stageInputBytes(),
                    bf16.expertRequestBytes() + bf16.expertResponseBytes(),
                    f32.expertRequestBytes() + f32.expertResponseBytes());
            assertTrue(maxDiff < 0.02 * range, "max logit difference " + maxDiff + " of " + range);
            assertEquals(ref.tokens()[0], tokens[0], "the prompt's greedy token");
            // payload halves; per-message metadata (ids, positions, routing) does not
            assertTrue(bf16.stageInputBytes() < 0.6 * f32.stageInputBytes(), bf16 + " vs " + f32);
        }
    }

    /** The two-stage, remote-expert split with every node sending {@code wire}; returns the bytes sent. */
    private static WireCounters.Snapshot run(Path model, ReferenceBackend backend, DType wire,
                                             TestModels.Reference ref, List<float[]> logits, int[] tokens)
            throws Exception {
        Probe probe = (name, layer, data, rows, width) -> {
            if (name.equals("result_output")) {
                logits.add(Arrays.copyOf(data, rows * width));
            }
        };
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            var split = DistributedEqualsLocalTest.Split.start(cluster,
                    DistributedEqualsLocalTest.Topology.TWO_STAGES_REMOTE_EXPERTS, s -> s.withWire(wire),
                    s -> s.withProbe(probe));
            int[] out = tokens == null ? new int[TOKENS] : tokens;
            try (PipelineDriver driver = new PipelineDriver(split.first().server().address(),
                    split.first().node().identity().modelDigest(), DistributedEqualsLocalTest.EPOCH)) {
                out[0] = driver.prefill(1, TestModels.PROMPT).getTokens(0).getTokenId();
                for (int i = 1; i < TOKENS; i++) {
                    // teacher-forced with the reference's tokens, so every step sees the same input on both wires
                    out[i] = driver.decode(1, TestModels.PROMPT.length + i - 1, ref.tokens()[i - 1])
                            .getTokens(0).getTokenId();
                }
            }
            return split.wire();
        }
    }
}
