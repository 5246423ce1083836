package dev.herd.shard;

import com.google.protobuf.ByteString;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.forward.LocalExpertRunner;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.ModelWeights;
import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.CombineMode;
import dev.herd.proto.v1.DType;
import dev.herd.proto.v1.FailureReason;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Activation bytes on the wire and the expert dispatch frame, against hand-computed values. */
class WireCodecTest {

    @Test
    void f32IsLittleEndianRowMajorAndKeepsEveryBit() {
        float[] x = {1f, -0f, Float.MIN_VALUE, Float.POSITIVE_INFINITY, Float.intBitsToFloat(0x7FC01234), 3.5f};
        ByteString b = ActivationCodec.encode(x, x.length, DType.DTYPE_F32);
        assertEquals(24, b.size());
        // 1.0f = 0x3F800000, low byte first
        assertArrayEquals(new byte[]{0, 0, (byte) 0x80, 0x3F}, b.substring(0, 4).toByteArray());
        float[] back = ActivationCodec.decode(b, DType.DTYPE_F32, 2, 3, "test");
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(back[i]), "element " + i);
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        float[] x = {
                1f,                 // 0x3F80 exactly
                1f + 0x1p-8f,       // halfway between 0x3F80 and 0x3F81: ties to even 0x3F80
                1f + 3 * 0x1p-8f,   // halfway between 0x3F81 and 0x3F82: ties to even 0x3F82
                1f + 0x1p-8f + 0x1p-20f, // just above halfway: up to 0x3F81
                -2.5f               // 0xC020 exactly
        };
        ByteString b = ActivationCodec.encode(x, x.length, DType.DTYPE_BF16);
        assertEquals(10, b.size());
        assertArrayEquals(new byte[]{(byte) 0x80, 0x3F}, b.substring(0, 2).toByteArray());
        float[] back = ActivationCodec.decode(b, DType.DTYPE_BF16, 1, 5, "test");
        assertArrayEquals(new float[]{1f, 1f, 1f + 2 * 0x1p-7f, 1f + 0x1p-7f, -2.5f}, back);
    }

    @Test
    void sizeMismatchIsABadFrameNamingBothSizes() {
        FrameRejected e = assertThrows(FrameRejected.class,
                () -> ActivationCodec.decode(ByteString.copyFrom(new byte[10]), DType.DTYPE_BF16, 2, 3, "step 9"));
        assertEquals(FailureReason.FAILURE_REASON_BAD_FRAME, e.reason());
        assertEquals("step 9 is 2 x 3 DTYPE_BF16 (12 bytes) but carries 10 bytes", e.getMessage());
        assertThrows(FrameRejected.class,
                () -> ActivationCodec.decode(ByteString.EMPTY, DType.DTYPE_UNSPECIFIED, 0, 0, "step 9"));
    }

    @Test
    void aRowRoutedToSeveralExpertsOfANodeCrossesTheWireOnce() {
        int h = 3;
        float[] rows = {1, 2, 3, 1, 2, 3, 4, 5, 6}; // token a to experts 0 and 3, token b to expert 1
        ActivationFrame f = ExpertFrames.request(2, 17, 4, new int[]{0, 3, 1}, rows, 3, h, DType.DTYPE_F32);
        assertEquals(2, f.getRows());
        assertEquals(List.of(0, 0, 1), f.getRoutedRowsList());
        assertEquals(List.of(0, 3, 1), f.getRoutedExpertsList());
        assertEquals(CombineMode.COMBINE_MODE_PER_EXPERT, f.getCombine());
        assertEquals(17, f.getStepId());
        ExpertJob job = ExpertFrames.toJob(f, h);
        assertArrayEquals(new float[]{1, 2, 3, 4, 5, 6}, job.rows());
        assertArrayEquals(new int[]{0, 0, 1}, job.entryRows());
    }

    @Test
    void inconsistentDispatchFramesAreRefused() {
        ActivationFrame ok = ExpertFrames.request(1, 1, 0, new int[]{0, 1}, new float[]{1, 2, 3, 4}, 2, 2,
                DType.DTYPE_F32);
        assertEquals("expert request 1 for layer 0 routing entry 1 names row 0; rows must be below 2 and sorted",
                assertThrows(FrameRejected.class, () -> ExpertFrames.toJob(ok.toBuilder().setRoutedRows(0, 1)
                        .setRoutedRows(1, 0).build(), 2)).getMessage());
        assertEquals("expert request 1 for layer 0 sends row 1 but routes it to no expert",
                assertThrows(FrameRejected.class, () -> ExpertFrames.toJob(ok.toBuilder().setRoutedRows(1, 0).build(),
                        2)).getMessage());
        assertEquals("expert request 1 for layer 0 has 2 routing entries but 0 routed_weights (WEIGHTED_SUM needs one"
                        + " each)",
                assertThrows(FrameRejected.class, () -> ExpertFrames.toJob(ok.toBuilder()
                        .setCombine(CombineMode.COMBINE_MODE_WEIGHTED_SUM).build(), 2)).getMessage());
        assertEquals("expert request 1 for layer 0 has 2 columns; the hidden size is 3",
                assertThrows(FrameRejected.class, () -> ExpertFrames.toJob(ok, 3)).getMessage());
    }

    @Test
    void weightedSumIsTheRouterWeightedSumOfPerExpertRows(@TempDir Path dir) {
        Path model = TestModels.write(dir, Architecture.MIXTRAL);
        try (ReferenceBackend backend = new ReferenceBackend(1);
             ModelFiles files = ModelFiles.open(model);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format(), 1, 2)) {
            int h = files.config().hiddenSize();
            ExpertHost host = new ExpertHost(h, Map.of(1, new LocalExpertRunner(w, backend)),
                    List.of(new ExpertRef(1, 0), new ExpertRef(1, 2)));
            float[] rows = new float[2 * h];
            Random r = new Random(3);
            for (int i = 0; i < rows.length; i++) {
                rows[i] = (float) r.nextGaussian();
            }
            // row 0 to experts 0 and 2, row 1 to expert 2
            ExpertJob perExpert = new ExpertJob(1, 1, 1, rows, 2, new int[]{0, 0, 1}, new int[]{0, 2, 2},
                    new float[0], CombineMode.COMBINE_MODE_PER_EXPERT, DType.DTYPE_F32);
            float[] y = host.run(perExpert);
            float[] wts = {0.25f, 0.75f, 0.5f};
            float[] sum = host.run(new ExpertJob(1, 2, 1, rows, 2, new int[]{0, 0, 1}, new int[]{0, 2, 2}, wts,
                    CombineMode.COMBINE_MODE_WEIGHTED_SUM, DType.DTYPE_F32));
            float[] expected = new float[2 * h];
            for (int j = 0; j < h; j++) {
                expected[j] = 0f + wts[0] * y[j] + wts[1] * y[h + j];
                expected[h + j] = 0f + wts[2] * y[2 * h + j];
            }
            assertArrayEquals(expected, sum);
            assertEquals(Map.of(new ExpertRef(1, 0), 2L, new ExpertRef(1, 2), 4L), host.load());
            FrameRejected notHeld = assertThrows(FrameRejected.class, () -> host.run(new ExpertJob(1, 3, 1, rows, 2,
                    new int[]{0, 1}, new int[]{1, 1}, new float[0], CombineMode.COMBINE_MODE_PER_EXPERT,
                    DType.DTYPE_F32)));
            assertEquals("request 3 asks for expert 1 of layer 1, which this node does not hold", notHeld.getMessage());
        }
    }
}
