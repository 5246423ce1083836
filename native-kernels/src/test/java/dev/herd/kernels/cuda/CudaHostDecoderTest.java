package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;
import dev.herd.kernels.RandomWeights;
import dev.herd.kernels.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA kernels' block decoders, run on the host (the same {@code __host__ __device__} code the GPU
 * runs, see quant.cuh), against the reference {@link dev.herd.kernels.Dequant}. Needs the kernel library
 * and a loadable CUDA runtime but no GPU, so the layout logic is checked on every build machine with nvcc.
 * <ul>
 *   <li>The tile/row decoder must reproduce the reference exactly: it performs the same f32 operations in
 *       the same order (products rounded separately, never fused).</li>
 *   <li>The matrix-vector kernel's per-lane decoder, summed over a row's units, must give row · x to within
 *       f32 summation error: |got - exact| ≤ 4·len·2⁻²⁴·Σ|wᵢxᵢ| (the classic bound for a sum of len
 *       products, with room for the different grouping), while a wrong nibble, scale or offset is off by a
 *       sizeable fraction of Σ|wᵢxᵢ|.</li>
 * </ul>
 */
class CudaHostDecoderTest {
    private static CudaKernels kernels;
    private static String unavailable;

    @BeforeAll
    static void load() {
        try {
            kernels = CudaKernels.load();
        } catch (CudaUnavailableException e) {
            unavailable = e.getMessage();
        }
    }

    @TestFactory
    Stream<DynamicTest> decodersMatchTheReference() {
        List<DynamicTest> tests = new ArrayList<>();
        for (DType t : DType.values()) {
            if (CudaKernels.code(t) < 0) {
                continue;
            }
            for (int cols : TestWeights.lengths(t)) {
                tests.add(DynamicTest.dynamicTest(t + " cols=" + cols, () -> check(t, cols)));
            }
        }
        return tests.stream();
    }

    private static void check(DType t, int cols) {
        Assumptions.assumeTrue(kernels != null, () -> "CUDA kernel library not loadable: " + unavailable);
        try (Arena arena = Arena.ofConfined()) {
            int rows = 3;
            Tensor w = RandomWeights.matrix("w", t, rows, cols, cols * 31L + t.ordinal(), arena);
            float[] xs = RandomWeights.gaussian(cols, 1.0, cols + 5L);
            MemorySegment x = arena.allocate(4L * cols, 64);
            MemorySegment.copy(xs, 0, x, ValueLayout.JAVA_FLOAT, 0, cols);
            MemorySegment out = arena.allocate(4L * cols, 64);
            MemorySegment dot = arena.allocate(4);
            for (int r = 0; r < rows; r++) {
                float[] expected = TestWeights.row(w, r);
                MemorySegment row = w.data().asSlice(r * w.rowBytes(), w.rowBytes());
                assertEquals(0, kernels.hostDequant(CudaKernels.code(t), row, cols, out));
                float[] got = out.toArray(ValueLayout.JAVA_FLOAT);
                assertArrayEquals(expected, got, t + " row " + r + " dequantized");

                assertEquals(0, kernels.hostDot(CudaKernels.code(t), row, cols, x, dot));
                double exact = 0;
                double abs = 0;
                for (int i = 0; i < cols; i++) {
                    exact += (double) expected[i] * xs[i];
                    abs += Math.abs((double) expected[i] * xs[i]);
                }
                double bound = 4.0 * cols * 0x1p-24 * abs + 1e-30;
                float d = dot.get(ValueLayout.JAVA_FLOAT, 0);
                assertTrue(Math.abs(d - exact) <= bound, t + " row " + r + " dot: " + d + " vs " + exact
                        + " (bound " + bound + ")");
            }
        }
    }

    @org.junit.jupiter.api.Test
    void unknownTypesAreRefused() {
        Assumptions.assumeTrue(kernels != null, () -> "CUDA kernel library not loadable: " + unavailable);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(64);
            assertEquals(CudaKernels.EBADTYPE, kernels.hostDequant(99, buf, 8, buf));
            assertEquals(CudaKernels.EINVAL, kernels.hostDot(0, buf, 0, buf, buf));
        }
    }
}
