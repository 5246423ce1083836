package dev.herd.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading, argument checking, threading and GC safety of {@link NativeBackend}. */
// a pool that deadlocks fails the test instead of hanging the build (a native wait cannot be interrupted)
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NativeBackendTest {
    private static Arena arena;
    private static NativeBackend backend;

    @BeforeAll
    static void load() {
        arena = Arena.ofShared();
        try {
            backend = NativeBackend.load(3);
        } catch (NativeUnavailableException e) {
            Assumptions.abort("native kernels unavailable: " + e.getMessage());
        }
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
        arena.close();
    }

    @Test
    void picksTheBestLevelThisCpuRuns() {
        assertTrue(backend.name().startsWith("native-"), backend.name());
        assertEquals(3, backend.threads());
        try (NativeBackend portable = NativeBackend.load(1, NativeBackend.Isa.PORTABLE, 0)) {
            assertEquals(NativeBackend.Isa.PORTABLE, portable.isa());
            assertTrue(backend.isa().compareTo(NativeBackend.Isa.PORTABLE) >= 0);
        } catch (NativeUnavailableException e) {
            throw new AssertionError("the portable kernels run everywhere the library loads", e);
        }
    }

    @Test
    void aMissingOrBrokenLibraryIsReportedAndBackendsFallsBack(@TempDir Path dir) throws Exception {
        String saved = System.getProperty(NativeLibraryFile.PATH_PROPERTY);
        try {
            Path missing = dir.resolve("nothing.so");
            System.setProperty(NativeLibraryFile.PATH_PROPERTY, missing.toString());
            var e = assertThrows(NativeUnavailableException.class, () -> NativeBackend.load(1));
            assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
            try (Backend b = Backends.best(1)) {
                assertInstanceOf(ReferenceBackend.class, b);
            }

            // (a file that is no ELF at all fails the same way, but makes the JVM print a stack guard warning)
            // a real shared library that is not the kernels: the C math library the kernels link against
            Path libm = Path.of("/lib/x86_64-linux-gnu/libm.so.6");
            if (Files.isRegularFile(libm)) {
                System.setProperty(NativeLibraryFile.PATH_PROPERTY, libm.toString());
                e = assertThrows(NativeUnavailableException.class, () -> NativeBackend.load(1));
                assertTrue(e.getMessage().contains("is not a matching Herd kernel library"), e.getMessage());
            }
        } finally {
            if (saved == null) {
                System.clearProperty(NativeLibraryFile.PATH_PROPERTY);
            } else {
                System.setProperty(NativeLibraryFile.PATH_PROPERTY, saved);
            }
        }
        try (Backend b = Backends.best(2)) {
            assertInstanceOf(NativeBackend.class, b);
        }
    }

    @Test
    void extractsTheLibraryFromAJarOnceByContent(@TempDir Path dir) throws Exception {
        byte[] lib = Files.readAllBytes(NativeLibraryFile.locate());
        Path cache = dir.resolve("cache");
        Path a = NativeLibraries.extract(lib, cache, NativeLibraryFile.LIBRARY_NAME);
        assertArrayEquals(lib, Files.readAllBytes(a));
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(cache)));
        var written = Files.getLastModifiedTime(a);
        Thread.sleep(20);
        assertEquals(a, NativeLibraries.extract(lib, cache, NativeLibraryFile.LIBRARY_NAME));
        assertEquals(written, Files.getLastModifiedTime(a), "an intact copy is reused, not rewritten");

        Files.write(a, new byte[lib.length]); // same size, other content: replaced
        assertEquals(a, NativeLibraries.extract(lib, cache, NativeLibraryFile.LIBRARY_NAME));
        assertArrayEquals(lib, Files.readAllBytes(a));

        // and the extracted copy is a working library
        String saved = System.getProperty(NativeLibraryFile.PATH_PROPERTY);
        System.setProperty(NativeLibraryFile.PATH_PROPERTY, a.toString());
        try (NativeBackend b = NativeBackend.load(1)) {
            float[] x = {3, 4};
            b.rmsNorm(x, null, 0f, 2, 1, x);
            assertArrayEquals(new float[] {(float) (3 / Math.sqrt(12.5)), (float) (4 / Math.sqrt(12.5))}, x, 1e-6f);
        } finally {
            if (saved == null) {
                System.clearProperty(NativeLibraryFile.PATH_PROPERTY);
            } else {
                System.setProperty(NativeLibraryFile.PATH_PROPERTY, saved);
            }
        }
    }

    /** Model weights arrive as read-only mappings of files; the kernels read them in place. */
    @Test
    void readsWeightsFromReadOnlyMappedFiles(@TempDir Path dir) throws Exception {
        Tensor src = RandomWeights.matrix("w", DType.Q4_K, 40, 512, 8, arena);
        Path file = dir.resolve("w.bin");
        Files.write(file, src.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        float[] x = RandomWeights.gaussian(512, 1.0, 9);
        try (Arena mapArena = Arena.ofShared();
             var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.READ)) {
            var mapped = ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, ch.size(), mapArena);
            assertTrue(mapped.isReadOnly());
            Tensor w = new Tensor("w", DType.Q4_K, new long[] {40, 512}, mapped);
            float[] fromMap = new float[40];
            float[] fromArena = new float[40];
            backend.matmul(w, x, fromMap, 1);
            backend.matmul(src, x, fromArena, 1);
            assertArrayEquals(fromArena, fromMap);
            float[] row = new float[512];
            float[] expected = new float[512];
            backend.getRow(w, 39, row, 0);
            Dequant.row(src, 39, expected, 0);
            assertArrayEquals(expected, row);
        }
    }

    /**
     * Q4_0 and Q8_0 matrices are repacked once, at their first product, where the kernels have a layout for
     * them (AVX-512), and then give what the kernels on the file's layout give: both sum the same integer
     * block products, so only the order of the f32 additions differs.
     */
    @Test
    void quantizedWeightsAreRepackedOnceAndAgreeWithTheFileLayout() throws Exception {
        Assumptions.assumeTrue(backend.isa() == NativeBackend.Isa.AVX512, "no repacked layout below AVX-512");
        try (NativeBackend packing = NativeBackend.load(2, NativeBackend.Isa.AVX512, 0, true);
             NativeBackend inPlace = NativeBackend.load(2, NativeBackend.Isa.AVX512, 0, false)) {
            int tensors = 0;
            long bytes = 0;
            for (DType t : new DType[] {DType.Q4_0, DType.Q8_0}) {
                // 37 rows: two full groups of 16 and a partial one; 7 blocks per row: an odd last pair
                Tensor w = RandomWeights.matrix("w", t, 37, 224, 11 + t.ordinal(), arena);
                for (int n : new int[] {1, 9}) {
                    float[] x = RandomWeights.gaussian(n * 224, 1.0, 12 + n);
                    float[] packed = new float[n * 37];
                    float[] plain = new float[n * 37];
                    packing.matmul(w, x, packed, n);
                    inPlace.matmul(w, x, plain, n);
                    double e = NativeBackendOpsTest.nmse(packed, plain);
                    assertTrue(e < 1e-11, t + " n=" + n + ": repacked against in place NMSE " + e);
                }
                tensors++;
                long groups = 3;
                long pairs = 4; // 7 blocks in pairs, each pair with 64 bytes of scales
                bytes += groups * (pairs * 64 + 7L * (t == DType.Q4_0 ? 256 : 512));
                assertEquals(new NativeBackend.RepackStats(tensors, bytes, tensors, packing.repackStats().nanos()),
                        packing.repackStats(), "one copy per matrix, made once");
            }
            assertEquals(0, inPlace.repackStats().tensors());
            // float types, and weights on the heap (whose address is no identity), are used as they are
            Tensor f16 = RandomWeights.matrix("f", DType.F16, 16, 64, 3, arena);
            Tensor q = RandomWeights.matrix("h", DType.Q4_0, 16, 64, 4, arena);
            Tensor onHeap = new Tensor("h", DType.Q4_0, new long[] {16, 64},
                    MemorySegment.ofArray(q.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
            float[] x = RandomWeights.gaussian(64, 1.0, 5);
            float[] fromHeap = new float[16];
            float[] fromArena = new float[16];
            packing.matmul(f16, x, new float[16], 1);
            packing.matmul(onHeap, x, fromHeap, 1);
            assertEquals(tensors, packing.repackStats().tensors());
            inPlace.matmul(q, x, fromArena, 1);
            assertArrayEquals(fromArena, fromHeap);
        }
    }

    /**
     * A repacked copy belongs to the memory it was made from: once that is released (a closed model), the
     * copy is freed, and other weights that land at the same address are never multiplied with it.
     */
    @Test
    void repackedCopiesGoWithTheirWeights() throws Exception {
        Assumptions.assumeTrue(backend.isa() == NativeBackend.Isa.AVX512, "no repacked layout below AVX-512");
        float[] x = RandomWeights.gaussian(256, 1.0, 21);
        try (NativeBackend b = NativeBackend.load(2, NativeBackend.Isa.AVX512, 0, true);
             ReferenceBackend ref = new ReferenceBackend(1)) {
            for (int round = 0; round < 4; round++) {
                try (Arena model = Arena.ofShared()) {
                    Tensor w = RandomWeights.matrix("w", DType.Q4_0, 64, 256, 100 + round, model);
                    float[] y = new float[64];
                    float[] expected = new float[64];
                    b.matmul(w, x, y, 1);
                    ref.matmul(w, x, expected, 1);
                    double e = NativeBackendOpsTest.nmse(y, expected);
                    assertTrue(e < NativeBackendOpsTest.QUANT_ACT_BOUND, "round " + round + ": NMSE " + e);
                    assertEquals(1, b.repackStats().tensors(), "the copies of released weights are freed");
                }
            }
            assertEquals(4, b.repackStats().made());
        }
    }

    @Test
    void badShapesAreRejectedBeforeReachingC() {
        Tensor w = RandomWeights.matrix("w", DType.Q8_0, 4, 64, 1, arena);
        assertThrows(IllegalArgumentException.class, () -> backend.matmul(w, new float[63], new float[4], 1));
        assertThrows(IllegalArgumentException.class, () -> backend.matmul(w, new float[64], new float[3], 1));
        assertThrows(IllegalArgumentException.class, () -> backend.matmul(w, new float[128], new float[8], 3));
        Tensor cube = new Tensor("c", DType.F32, new long[] {2, 2, 2}, arena.allocate(32));
        assertThrows(IllegalArgumentException.class, () -> backend.matmul(cube, new float[2], new float[4], 1));
        assertThrows(IndexOutOfBoundsException.class, () -> backend.getRow(w, 4, new float[64], 0));
        assertThrows(IndexOutOfBoundsException.class, () -> backend.getRow(w, -1, new float[64], 0));
        assertThrows(IndexOutOfBoundsException.class, () -> backend.getRow(w, 0, new float[64], 1));
        assertThrows(IllegalArgumentException.class, () -> backend.rmsNorm(new float[8], new float[3], 1e-5f, 4, 2, new float[8]));
        assertThrows(IllegalArgumentException.class, () -> backend.rmsNorm(new float[7], null, 1e-5f, 4, 2, new float[8]));
        assertThrows(IndexOutOfBoundsException.class, () -> backend.softmax(new float[8], 4, 5));
        assertThrows(IllegalArgumentException.class, () -> backend.swiglu(new float[8], new float[7], 8));
        Tensor g = RandomWeights.matrix("g", DType.Q8_0, 96, 64, 2, arena);
        Tensor d = RandomWeights.matrix("d", DType.Q8_0, 64, 96, 3, arena);
        assertThrows(IllegalArgumentException.class, () -> backend.swigluFfn(g, g, g, new float[64], 1, new float[64]));
        assertThrows(IllegalArgumentException.class, () -> backend.swigluFfn(g, d, d, new float[64], 1, new float[64]));
        assertThrows(IllegalArgumentException.class, () -> backend.swigluFfn(g, g, d, new float[63], 1, new float[64]));
        assertThrows(IllegalArgumentException.class, () -> backend.swigluFfn(g, g, d, new float[128], 2, new float[64]));
        assertThrows(IllegalArgumentException.class,
                () -> backend.route(new float[16], 2, 8, 9, RouteGating.SOFTMAX, true, new int[18], new float[18]));
        assertThrows(IllegalArgumentException.class,
                () -> backend.route(new float[15], 2, 8, 2, RouteGating.SOFTMAX, true, new int[4], new float[4]));
        assertThrows(IllegalArgumentException.class,
                () -> backend.route(new float[16], 2, 8, 2, RouteGating.SIGMOID, true, new int[3], new float[4]));
        assertThrows(IllegalArgumentException.class,
                () -> backend.rope(new float[16], 2, 1, 8, new int[] {0}, new float[4], RopeStyle.NEOX));
        assertThrows(IllegalArgumentException.class,
                () -> backend.rope(new float[16], 2, 1, 8, new int[] {0, 1}, new float[5], RopeStyle.NEOX));
        AttentionParams p = new AttentionParams(4, 2, 8, 0.35f, 0);
        float[] q = new float[32];
        // position 3 needs 4 rows of 16 floats of cache
        assertThrows(IllegalArgumentException.class, () -> backend.attention(p, q, new int[] {3}, 1,
                PagedKv.contiguous(new float[63], new float[64], 16), new float[32]));
        assertThrows(IllegalArgumentException.class, () -> backend.attention(p, q, new int[] {-1}, 1,
                PagedKv.contiguous(new float[64], new float[64], 16), new float[32]));
        assertThrows(IllegalArgumentException.class, () -> backend.attention(p, q, new int[] {0}, 2,
                PagedKv.contiguous(new float[64], new float[64], 16), new float[64]));
        // paged: a block table entry beyond the storage, a table too short for the position, a negative block
        MemorySegment store = MemorySegment.ofArray(new float[4 * 2 * 16]); // 4 blocks of 2 rows
        assertThrows(IllegalArgumentException.class, () -> backend.attention(p, q, new int[] {3}, 1,
                new PagedKv(store, store, new int[] {0, 4}, 2, 32, 0, 16), new float[32]));
        assertThrows(IllegalArgumentException.class, () -> backend.attention(p, q, new int[] {4}, 1,
                new PagedKv(store, store, new int[] {0, 1}, 2, 32, 0, 16), new float[32]));
        assertThrows(IllegalArgumentException.class, () -> backend.attention(p, q, new int[] {2}, 1,
                new PagedKv(store, store, new int[] {0, -1}, 2, 32, 0, 16), new float[32]));
        // a cache whose rows are not the attention's kv width
        assertThrows(IllegalArgumentException.class, () -> backend.attention(p, q, new int[] {0}, 1,
                PagedKv.contiguous(new float[64], new float[64], 8), new float[32]));
    }

    @Test
    void aClosedBackendRefusesWork() throws Exception {
        NativeBackend b = NativeBackend.load(2);
        b.close();
        b.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> b.softmax(new float[4], 0, 4));
        Tensor w = RandomWeights.matrix("w", DType.F32, 4, 8, 1, arena);
        assertThrows(IllegalStateException.class, () -> b.matmul(w, new float[8], new float[4], 1));
    }

    /** Workers that have not started yet when the pool stops, or when the first job comes, must not hang it. */
    @Test
    void poolsStartAndStopAtOnce() throws Exception {
        Tensor w = RandomWeights.matrix("w", DType.F32, 64, 2048, 3, arena);
        float[] x = RandomWeights.gaussian(2048, 1.0, 4);
        float[] expected = new float[64];
        backend.matmul(w, x, expected, 1);
        for (int i = 0; i < 200; i++) {
            try (NativeBackend b = NativeBackend.load(1 + i % 4, NativeBackend.Isa.AUTO, i % 3 == 0 ? 0 : 50)) {
                if (i % 2 == 0) {
                    float[] y = new float[64];
                    b.matmul(w, x, y, 1);
                    assertArrayEquals(expected, y);
                }
            }
        }
    }

    @Test
    void threadCountsGiveIdenticalResults() throws Exception {
        // every output is computed whole by one thread with the same code, whatever the split
        Tensor w = RandomWeights.matrix("w", DType.Q4_K, 300, 1024, 5, arena);
        float[] x = RandomWeights.gaussian(3 * 1024, 1.0, 6);
        float[] single = new float[900];
        float[] many = new float[900];
        try (NativeBackend one = NativeBackend.load(1); NativeBackend five = NativeBackend.load(5)) {
            one.matmul(w, x, single, 3);
            five.matmul(w, x, many, 3);
        }
        assertArrayEquals(single, many);
    }

    /**
     * Heap arrays go to C in critical downcalls and are read and written by the pool's threads. A
     * collector that moved them mid-call would corrupt results or crash; run kernels while another
     * thread churns the heap and forces collections, and check every result against the first.
     */
    @Test
    void heapArraysStayPutUnderGcPressure() throws Exception {
        Tensor w = RandomWeights.matrix("w", DType.F16, 512, 2048, 9, arena);
        AttentionParams p = new AttentionParams(8, 2, 64, 0.125f, 0);
        AtomicBoolean stop = new AtomicBoolean();
        Thread churn = Thread.ofPlatform().daemon().start(() -> {
            List<byte[]> keep = new ArrayList<>();
            while (!stop.get()) {
                for (int i = 0; i < 200; i++) {
                    keep.add(new byte[4096 + i]);
                }
                if (keep.size() > 5_000) {
                    keep.clear();
                    System.gc();
                }
            }
        });
        long gcsBefore = collections();
        float[] x0 = RandomWeights.gaussian(2 * 2048, 1.0, 10);
        float[] q0 = RandomWeights.gaussian(p.qDim(), 1.0, 11);
        float[] k0 = RandomWeights.gaussian(300 * p.kvDim(), 1.0, 12);
        float[] v0 = RandomWeights.gaussian(300 * p.kvDim(), 1.0, 13);
        try {
            float[] firstY = null;
            float[] firstAttn = null;
            long deadline = System.nanoTime() + 1_500_000_000L;
            for (int it = 0; it < 400 && (it < 20 || System.nanoTime() < deadline); it++) {
                // fresh arrays each round, so the collector has young objects to move
                float[] x = x0.clone();
                float[] y = new float[2 * 512];
                backend.matmul(w, x, y, 2);
                float[] q = q0.clone();
                float[] k = k0.clone();
                float[] v = v0.clone();
                float[] out = new float[p.qDim()];
                backend.attention(p, q, new int[] {299}, 1, PagedKv.contiguous(k, v, p.kvDim()), out);
                if (firstY == null) {
                    firstY = y;
                    firstAttn = out;
                } else {
                    assertArrayEquals(firstY, y, "matmul round " + it);
                    assertArrayEquals(firstAttn, out, "attention round " + it);
                }
            }
        } finally {
            stop.set(true);
            churn.join();
        }
        assertTrue(collections() - gcsBefore >= 2, "the heap was not collected during the test");
    }

    private static long collections() {
        long n = 0;
        for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
            n += Math.max(0, gc.getCollectionCount());
        }
        return n;
    }

    @Test
    void concurrentCallersAreSerialised() throws Exception {
        Tensor w = RandomWeights.matrix("w", DType.Q8_0, 256, 1024, 21, arena);
        float[] x = RandomWeights.gaussian(1024, 1.0, 22);
        float[] expected = new float[256];
        backend.matmul(w, x, expected, 1);
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<float[]>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                results.add(pool.submit(() -> {
                    float[] y = new float[256];
                    for (int i = 0; i < 50; i++) {
                        backend.matmul(w, x, y, 1);
                    }
                    return y;
                }));
            }
            for (Future<float[]> f : results) {
                assertArrayEquals(expected, f.get());
            }
        }
    }

    @Test
    void triadMeasuresABandwidth() {
        double gbs = backend.triadBandwidth(1 << 20, 2);
        assertTrue(gbs > 0.1 && gbs < 10_000, "triad " + gbs + " GB/s");
    }
}
