package dev.herd.model.forward;

import dev.herd.kernels.AttentionParams;
import dev.herd.kernels.PagedKv;
import dev.herd.kernels.ReferenceBackend;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The block store's bookkeeping, and block tables over it: sharing, copy on write, giving blocks back. */
class KvBlockStoreTest {
    private static final int KV = 6;      // floats per row
    private static final int LAYERS = 3;

    /** A row that says which sequence, layer and position it belongs to. */
    private static float[] row(int seq, int layer, int pos) {
        float[] r = new float[KV];
        for (int i = 0; i < KV; i++) {
            r[i] = seq * 100_000 + layer * 10_000 + pos * 10 + i;
        }
        return r;
    }

    /** Writes positions [from, to) of every layer with {@link #row} values, as a forward pass would. */
    private static void fill(KvCache c, int seq, int from, int to) {
        c.prepareWrite(from, to);
        int[] positions = new int[to - from];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = from + i;
        }
        for (int l = 0; l < LAYERS; l++) {
            float[] k = new float[positions.length * KV];
            float[] v = new float[positions.length * KV];
            for (int i = 0; i < positions.length; i++) {
                System.arraycopy(row(seq, l, from + i), 0, k, i * KV, KV);
                float[] r = row(seq, l, from + i);
                for (int j = 0; j < KV; j++) {
                    v[i * KV + j] = -r[j];
                }
            }
            c.write(l, positions, 0, positions.length, k, v);
        }
        c.advance(to - from);
    }

    private static void assertRows(KvCache c, int seq, int from, int to) {
        for (int l = 0; l < LAYERS; l++) {
            PagedKv kv = c.view(l);
            for (int p = from; p < to; p++) {
                float[] expected = row(seq, l, p);
                for (int i = 0; i < KV; i++) {
                    assertEquals(expected[i], kv.key(p, i), "key of layer " + l + " position " + p);
                    assertEquals(-expected[i], kv.value(p, i), "value of layer " + l + " position " + p);
                }
            }
        }
    }

    @Test
    void aLargeBudgetIsHeldOnlyAsBlocksAreUsed() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 16, 200)) {
            assertEquals(200, store.limit());
            assertEquals(64, store.capacity(), "starts small");
            long perBlock = 2L * LAYERS * 16 * KV * Float.BYTES;
            assertEquals(64 * perBlock, store.bytes());
            Set<Integer> ids = new HashSet<>();
            for (int i = 0; i < 200; i++) {
                ids.add(store.allocate());
            }
            assertEquals(200, ids.size(), "distinct blocks");
            assertEquals(200, store.capacity(), "grew to the budget, not beyond: 64, 128, 200");
            assertEquals(200 * perBlock, store.bytes());
            KvStoreFullException full = assertThrows(KvStoreFullException.class, store::allocate);
            assertEquals(200, full.capacity());
        }
    }

    @Test
    void allocatesDistinctBlocksUpToCapacityThenRefusesClearly() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 16, 4)) {
            assertEquals(2L * 4 * LAYERS * 16 * KV * Float.BYTES, store.bytes(), "a small budget is held whole from the start");
            Set<Integer> ids = new HashSet<>();
            for (int i = 0; i < 4; i++) {
                ids.add(store.allocate());
            }
            assertEquals(Set.of(0, 1, 2, 3), ids);
            assertEquals(4, store.usedBlocks());
            assertEquals(0, store.freeBlocks());
            KvStoreFullException full = assertThrows(KvStoreFullException.class, store::allocate);
            assertEquals(4, full.capacity());
            assertTrue(full.getMessage().contains("4 blocks of 16"), full.getMessage());
            store.release(2);
            assertEquals(3, store.usedBlocks());
            assertEquals(2, store.allocate(), "the freed block is handed out again");
        }
    }

    @Test
    void referenceCountsKeepSharedBlocksUntilTheLastRelease() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 16, 2)) {
            int b = store.allocate();
            store.retain(b);
            assertEquals(2, store.refCount(b));
            store.release(b);
            assertEquals(1, store.usedBlocks(), "still referenced once");
            store.release(b);
            assertEquals(0, store.usedBlocks());
            assertEquals(0, store.refCount(b));
            assertThrows(IllegalStateException.class, () -> store.release(b), "a free block cannot be released");
            assertThrows(IllegalStateException.class, () -> store.retain(b), "nor retained");
        }
    }

    @Test
    void closingFreesTheMemoryAndRefusesFurtherUse() {
        KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 4, 2);
        KvCache c = new KvCache(store);
        fill(c, 1, 0, 5);
        store.close();
        store.close(); // idempotent
        assertThrows(IllegalStateException.class, store::allocate);
        assertThrows(IllegalStateException.class, () -> c.view(0).key(0, 0), "the memory is gone");
        c.release(); // giving blocks back to a closed store is harmless
    }

    @Test
    void aGrowableStoreGrowsAndKeepsWhatWasWritten() {
        try (KvBlockStore store = KvBlockStore.growable(KV, 0, LAYERS, 4)) {
            KvCache a = new KvCache(store);
            KvCache b = new KvCache(store);
            // interleaved, so each cache's blocks are scattered through the store
            for (int p = 0; p < 40; p += 4) {
                fill(a, 1, p, p + 4);
                fill(b, 2, p, p + 3);
                fill(b, 2, p + 3, p + 4);
            }
            assertTrue(store.capacity() >= 20, "grew: " + store);
            assertEquals(20, store.usedBlocks());
            assertRows(a, 1, 0, 40);
            assertRows(b, 2, 0, 40);
            a.release();
            b.release();
            assertEquals(0, store.usedBlocks());
        }
    }

    @Test
    void copyOfABlockAlignedPrefixSharesItsBlocks() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 16, 16)) {
            KvCache source = new KvCache(store);
            fill(source, 1, 0, 70);
            assertEquals(5, store.usedBlocks());
            KvCache fork = KvCache.copyOf(source, 64);
            assertEquals(5, store.usedBlocks(), "a fork of a 64-token prefix in 16-token blocks takes no new block");
            assertEquals(4, fork.blocks());
            for (int i = 0; i < 4; i++) {
                assertEquals(source.block(i), fork.block(i));
                assertEquals(2, store.refCount(fork.block(i)));
            }
            assertEquals(64, fork.length());
            assertRows(fork, 1, 0, 64);
            // the fork goes on with its own tokens in a block of its own; the source is untouched
            fill(fork, 2, 64, 80);
            assertEquals(6, store.usedBlocks());
            assertRows(source, 1, 0, 70);
            assertRows(fork, 2, 64, 80);
            // releasing the source keeps the shared blocks for the fork
            source.release();
            assertEquals(5, store.usedBlocks());
            assertRows(fork, 1, 0, 64);
            fork.release();
            assertEquals(0, store.usedBlocks());
        }
    }

    @Test
    void copyOfAnUnalignedPrefixCopiesOnlyThePartialBlock() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 16, 16)) {
            KvCache source = new KvCache(store);
            fill(source, 1, 0, 50);
            KvCache fork = KvCache.copyOf(source, 40);
            assertEquals(4 + 1, store.usedBlocks(), "two shared blocks, one copied");
            assertEquals(source.block(0), fork.block(0));
            assertEquals(source.block(1), fork.block(1));
            assertNotEquals(source.block(2), fork.block(2));
            assertRows(fork, 1, 0, 40);
            fill(fork, 3, 40, 48); // into the copied block
            assertRows(source, 1, 0, 50);
            assertRows(fork, 3, 40, 48);
        }
    }

    @Test
    void writingIntoASharedBlockCopiesItFirst() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 16, 16)) {
            KvCache source = new KvCache(store);
            fill(source, 1, 0, 32);
            KvCache fork = KvCache.copyOf(source, 32);
            fork.truncate(20); // back into the shared second block, then a different continuation
            assertEquals(2, fork.blocks());
            int shared = fork.block(1);
            fill(fork, 2, 20, 24);
            assertNotEquals(shared, fork.block(1), "copied on write");
            assertEquals(1, store.refCount(shared));
            assertRows(source, 1, 0, 32);
            assertRows(fork, 1, 0, 20);
            assertRows(fork, 2, 20, 24);
            assertEquals(3, store.usedBlocks());
        }
    }

    @Test
    void truncateGivesWholeBlocksBackAndReleaseGivesEverythingBack() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 16, 8)) {
            KvCache c = new KvCache(store);
            fill(c, 1, 0, 64);
            assertEquals(4, store.usedBlocks());
            c.truncate(33);
            assertEquals(3, c.blocks());
            assertEquals(3, store.usedBlocks());
            c.truncate(32);
            assertEquals(2, store.usedBlocks());
            assertRows(c, 1, 0, 32);
            c.release();
            c.release(); // idempotent
            assertEquals(0, store.usedBlocks());
            assertThrows(IllegalStateException.class, () -> c.prepareWrite(0, 1), "a released cache is not written");
            assertThrows(IllegalStateException.class, () -> KvCache.copyOf(c, 0));
        }
    }

    @Test
    void aBoundedStoreRunningOutFailsTheWriteWithItsOwnException() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 4, 2)) {
            KvCache c = new KvCache(store);
            assertThrows(KvStoreFullException.class, () -> c.prepareWrite(0, 9));
            c.release();
            assertEquals(0, store.usedBlocks(), "blocks taken before running out go back with the cache");
        }
    }

    @Test
    void aStoreHoldsOnlyItsLayers() {
        try (KvBlockStore store = KvBlockStore.bounded(KV, 2, 4, 4, 2)) {
            KvCache c = new KvCache(store);
            c.prepareWrite(0, 1);
            assertTrue(store.holdsLayer(3));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.view(1));
            assertTrue(e.getMessage().contains("[2, 4)"), e.getMessage());
        }
    }

    @Test
    void attentionThroughScatteredBlocksEqualsTheContiguousRows() {
        AttentionParams p = new AttentionParams(4, 2, 3, 0.5f, 0);
        ReferenceBackend ref = new ReferenceBackend();
        try (KvBlockStore store = KvBlockStore.bounded(KV, 0, LAYERS, 3, 32)) {
            KvCache other = new KvCache(store);
            KvCache c = new KvCache(store);
            Random rnd = new Random(5);
            int n = 20;
            float[] k = new float[n * KV];
            float[] v = new float[n * KV];
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) rnd.nextGaussian();
                v[i] = (float) rnd.nextGaussian();
            }
            for (int pos = 0; pos < n; pos++) { // another sequence's blocks in between
                other.prepareWrite(pos, pos + 1);
                other.advance(1);
                c.prepareWrite(pos, pos + 1);
                c.write(1, new int[] {pos}, 0, 1, java.util.Arrays.copyOfRange(k, pos * KV, pos * KV + KV),
                        java.util.Arrays.copyOfRange(v, pos * KV, pos * KV + KV));
                c.advance(1);
            }
            float[] q = new float[3 * p.qDim()];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rnd.nextGaussian();
            }
            int[] positions = {17, 18, 19};
            float[] paged = new float[q.length];
            float[] contiguous = new float[q.length];
            ref.attention(p, q, positions, 3, c.view(1), paged);
            ref.attention(p, q, positions, 3, PagedKv.contiguous(k, v, KV), contiguous);
            assertArrayEquals(contiguous, paged);
        }
    }
}
