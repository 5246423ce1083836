package dev.herd.kernels.cuda;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Device copies of key/value caches follow the host arrays under the forward pass's pattern (write the
 * rows of this call's positions, then attend), while uploading only what changed (no GPU needed).
 */
class KvMirrorsTest {
    private static final int ROW = 6;

    private static void write(float[] cache, int pos, float seed) {
        for (int i = 0; i < ROW; i++) {
            cache[pos * ROW + i] = seed + pos * 10 + i;
        }
    }

    private static void assertMirrors(FakeDeviceMemory mem, long device, float[] cache, int rows) {
        MemorySegment expected = MemorySegment.ofArray(Arrays.copyOf(cache, rows * ROW));
        assertEquals(-1, mem.view(device, 4L * rows * ROW).mismatch(expected), "device copy differs from the host rows");
    }

    @Test
    void decodeStepsUploadOneRowEachAndTheCopyStaysEqual() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        KvMirrors kv = new KvMirrors(mem);
        float[] cache = new float[64 * ROW];
        for (int p = 0; p < 5; p++) {
            write(cache, p, 1);
        }
        long d = kv.sync(cache, ROW, 5, 0); // prefill of positions 0..4
        assertMirrors(mem, d, cache, 5);
        assertEquals(4L * 5 * ROW, mem.uploadedBytes);
        for (int p = 5; p < 40; p++) {
            write(cache, p, 1);
            long before = mem.uploadedBytes;
            d = kv.sync(cache, ROW, p + 1, p);
            assertEquals(4L * ROW, mem.uploadedBytes - before, "one row per decode step");
            assertMirrors(mem, d, cache, p + 1);
        }
        assertEquals(1, kv.count());
    }

    @Test
    void growingTheCopyKeepsTheRowsAlreadyThereAndFreesTheOldOne() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        KvMirrors kv = new KvMirrors(mem);
        float[] cache = new float[100 * ROW];
        write(cache, 0, 2);
        kv.sync(cache, ROW, 1, 0);
        for (int p = 1; p < 30; p++) {
            write(cache, p, 2);
            long d = kv.sync(cache, ROW, p + 1, p);
            assertMirrors(mem, d, cache, p + 1);
        }
        assertTrue(mem.log.contains("copy " + 4 * ROW), "the first growth copied the one valid row across");
        assertEquals(1, mem.allocations(), "old copies freed");
    }

    @Test
    void rerunningASuffixAfterTruncationRefreshesThoseRows() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        KvMirrors kv = new KvMirrors(mem);
        float[] cache = new float[32 * ROW];
        for (int p = 0; p < 10; p++) {
            write(cache, p, 3);
        }
        kv.sync(cache, ROW, 10, 0);
        // truncate to 6 and run positions 6..7 with different tokens: rows 6, 7 change on the host
        write(cache, 6, 100);
        write(cache, 7, 100);
        long d = kv.sync(cache, ROW, 8, 6);
        assertMirrors(mem, d, cache, 8);
    }

    @Test
    void withoutIncrementalUploadsEveryCallUploadsAllRows() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        KvMirrors kv = new KvMirrors(mem);
        float[] cache = new float[16 * ROW];
        write(cache, 0, 4);
        write(cache, 1, 4);
        kv.sync(cache, ROW, 2, 0);
        cache[0] = -1; // a row below the next call's position changes: only a full upload sees it
        long before = mem.uploadedBytes;
        long d = kv.sync(cache, ROW, 3, 0);
        assertEquals(4L * 3 * ROW, mem.uploadedBytes - before);
        assertMirrors(mem, d, cache, 3);
    }

    @Test
    void eachArrayHasItsOwnCopy() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        KvMirrors kv = new KvMirrors(mem);
        float[] k = new float[8 * ROW];
        float[] v = new float[8 * ROW];
        write(k, 0, 5);
        write(v, 0, 6);
        long dk = kv.sync(k, ROW, 1, 0);
        long dv = kv.sync(v, ROW, 1, 0);
        assertMirrors(mem, dk, k, 1);
        assertMirrors(mem, dv, v, 1);
        assertEquals(2, kv.count());
        kv.clear();
        assertEquals(0, mem.allocations());
    }
    @Test
    void aPagedCacheIsGatheredIntoPositionOrderAndDecodeUploadsOneRow() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        KvMirrors kv = new KvMirrors(mem);
        int bt = 4;
        int layers = 2;
        // 6 blocks of 2 layers; this cache is layer 1, its positions in blocks 5, 0, 3 (in that order)
        float[] store = new float[6 * layers * bt * ROW];
        java.util.Arrays.fill(store, Float.NaN);
        int[] table = {5, 0, 3};
        dev.herd.kernels.PagedKv cache = new dev.herd.kernels.PagedKv(MemorySegment.ofArray(store),
                MemorySegment.ofArray(store), table, bt, (long) layers * bt * ROW, (long) bt * ROW, ROW);
        float[] contiguous = new float[12 * ROW];
        for (int p = 0; p < 12; p++) {
            write(contiguous, p, 7);
            System.arraycopy(contiguous, p * ROW, store, (int) cache.row(p), ROW);
        }
        long d = kv.sync(table, 2, ROW, 9, 12, 0, KvMirrors.blockRows(cache, cache.keys())); // prefill 0..8
        assertMirrors(mem, d, contiguous, 9);
        for (int p = 9; p < 12; p++) {
            long before = mem.uploadedBytes;
            d = kv.sync(table, 2, ROW, p + 1, 12, p, KvMirrors.blockRows(cache, cache.keys()));
            assertEquals(4L * ROW, mem.uploadedBytes - before, "one row per decode step");
            assertMirrors(mem, d, contiguous, p + 1);
        }
        // the same table under another tag (the values, or another layer) is another copy
        kv.sync(table, 3, ROW, 1, 12, 0, KvMirrors.blockRows(cache, cache.values()));
        assertEquals(2, kv.count());
    }
}
