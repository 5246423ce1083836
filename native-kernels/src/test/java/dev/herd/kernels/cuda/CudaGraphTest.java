package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;
import dev.herd.kernels.RandomWeights;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.kernels.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A feed-forward block with its residual (norm, gate and up products, SwiGLU, down product, add) recorded
 * once as a CUDA graph and replayed on new inputs gives what the reference computes op by op (GPU only).
 */
class CudaGraphTest {
    private static final int HIDDEN = 256;
    private static final int FFN = 512;
    private static Arena arena;
    private static ReferenceBackend reference;

    @BeforeAll
    static void setUp() {
        arena = Arena.ofShared();
        reference = new ReferenceBackend(2);
    }

    @AfterAll
    static void tearDown() {
        reference.close();
        CudaBackend cuda = CudaTestSupport.opened();
        if (cuda != null) {
            cuda.releaseWeights();
        }
        arena.close();
    }

    @Test
    void aCapturedBlockReplaysOnNewInputs() {
        CudaBackend cuda = CudaTestSupport.backend();
        Tensor gate = RandomWeights.matrix("gate", DType.Q4_K, FFN, HIDDEN, 1, arena);
        Tensor up = RandomWeights.matrix("up", DType.Q4_K, FFN, HIDDEN, 2, arena);
        Tensor down = RandomWeights.matrix("down", DType.Q6_K, HIDDEN, FFN, 3, arena);
        float[] norm = RandomWeights.gaussian(HIDDEN, 1.0, 4);
        for (Tensor t : new Tensor[] {gate, up, down}) {
            cuda.prepare(t);
        }
        try (DeviceArray x = cuda.allocate(HIDDEN); DeviceArray xn = cuda.allocate(HIDDEN);
             DeviceArray w = cuda.allocate(HIDDEN); DeviceArray g = cuda.allocate(FFN);
             DeviceArray u = cuda.allocate(FFN); DeviceArray y = cuda.allocate(HIDDEN)) {
            w.upload(norm);
            try (CudaGraph graph = CudaGraph.capture(cuda, () -> {
                cuda.enqueueRmsNorm(x, w, 1e-5f, HIDDEN, 1, xn);
                cuda.enqueueMatmul(gate, xn, g, 1);
                cuda.enqueueMatmul(up, xn, u, 1);
                cuda.enqueueSwiglu(g, u, FFN);
                cuda.enqueueMatmul(down, g, y, 1);
                cuda.enqueueAdd(y, x, HIDDEN);
            })) {
                for (long seed = 10; seed < 13; seed++) {
                    float[] in = RandomWeights.gaussian(HIDDEN, 2.0, seed);
                    x.upload(in);
                    graph.run();
                    float[] actual = new float[HIDDEN];
                    y.download(actual);
                    float[] expected = blockOnHost(in, norm, gate, up, down);
                    double e = CudaTestSupport.nmse(actual, expected);
                    assertTrue(e <= CudaBackendTest.F32_BOUND, "replay " + seed + ": NMSE " + e);
                }
            }
        }
    }

    @Test
    void captureRefusesWorkThatCannotBeRecordedAndLeavesTheBackendUsable() {
        CudaBackend cuda = CudaTestSupport.backend();
        Tensor notUploaded = RandomWeights.matrix("late", DType.Q8_0, 32, 64, 5, arena);
        try (DeviceArray x = cuda.allocate(64); DeviceArray y = cuda.allocate(32)) {
            assertThrows(IllegalStateException.class, () -> CudaGraph.capture(cuda,
                    () -> cuda.enqueueMatmul(notUploaded, x, y, 1)));
            assertThrows(IllegalStateException.class, () -> CudaGraph.capture(cuda,
                    () -> cuda.matmul(notUploaded, new float[64], new float[32], 1)));
            float[] out = new float[32];
            cuda.matmul(notUploaded, new float[64], out, 1); // uploads now, outside any capture
        }
    }

    private static float[] blockOnHost(float[] x, float[] norm, Tensor gate, Tensor up, Tensor down) {
        float[] xn = new float[HIDDEN];
        reference.rmsNorm(x, norm, 1e-5f, HIDDEN, 1, xn);
        float[] g = new float[FFN];
        float[] u = new float[FFN];
        reference.matmul(gate, xn, g, 1);
        reference.matmul(up, xn, u, 1);
        reference.swiglu(g, u, FFN);
        float[] y = new float[HIDDEN];
        reference.matmul(down, g, y, 1);
        for (int i = 0; i < HIDDEN; i++) {
            y[i] += x[i];
        }
        return y;
    }
}
