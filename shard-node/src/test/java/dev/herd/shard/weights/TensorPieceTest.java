package dev.herd.shard.weights;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Names of tensors and their slices, read against a hand-made index with hand-computed byte ranges. */
class TensorPieceTest {
    /** 4 experts of 3 x 256 Q8_0 values: 34 bytes per block of 32, 8 blocks a row, 3 rows: 816 bytes an expert. */
    static final StoredTensor STACKED = new StoredTensor("blk.0.ffn_up_exps.weight", "Q8_0", new long[]{4, 3, 256},
            4 * 816);
    static final StoredTensor NORM = new StoredTensor("blk.0.attn_norm.weight", "F32", new long[]{64}, 256);
    static final TensorIndex INDEX = new TensorIndex(List.of(NORM, STACKED));

    @Test
    void aSliceIsItsExpertsContiguousBytes() {
        TensorPiece p = INDEX.piece("blk.0.ffn_up_exps.weight[2]");
        assertTrue(p.isSlice());
        assertEquals(2, p.slice());
        assertEquals(2 * 816, p.start());
        assertEquals(816, p.size());
        assertEquals("blk.0.ffn_up_exps.weight[2]", p.key());
        assertEquals("slice 2 of tensor 'blk.0.ffn_up_exps.weight'", p.describe());
        TensorPiece whole = INDEX.piece("blk.0.ffn_up_exps.weight");
        assertFalse(whole.isSlice());
        assertEquals(4 * 816, whole.size());
        assertEquals(256 + 816 + 816, INDEX.bytes(List.of("blk.0.attn_norm.weight", "blk.0.ffn_up_exps.weight[0]",
                "blk.0.ffn_up_exps.weight[3]")));
    }

    @Test
    void namesOfNoTensorOrNoSliceAreRefusedByName() {
        for (String bad : List.of("blk.0.ffn_up_exps.weight[4]", "blk.0.ffn_up_exps.weight[-1]",
                "blk.0.ffn_up_exps.weight[x]", "blk.0.attn_norm.weight[0]", "no.such[0]", "no.such")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> INDEX.piece(bad), bad);
            assertTrue(e.getMessage().contains(bad.contains("[") ? bad.substring(0, bad.indexOf('[')) : bad),
                    e.getMessage());
        }
        assertFalse(NORM.sliceable(), "one dimension: nothing to cut along");
        assertFalse(new StoredTensor("odd", "Q4_K", new long[]{3, 256}, 500).sliceable(), "3 does not divide 500");
    }
}
