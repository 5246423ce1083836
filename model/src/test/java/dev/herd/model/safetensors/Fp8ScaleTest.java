package dev.herd.model.safetensors;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static dev.herd.model.safetensors.HandMade.concat;
import static dev.herd.model.safetensors.HandMade.f32;
import static dev.herd.model.safetensors.HandMade.u16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FP8 weights with their scales, from hand-written files, against values computed by hand. */
class Fp8ScaleTest {
    @TempDir
    Path dir;

    static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
                + end + "]}";
    }

    /**
     * Element i of a hand-made FP8 tensor: E4M3 codes 0x38..0x3F are exponent 7 (2^0) with mantissa m, so their
     * value is 1 + m/8; every third element gets the sign bit.
     */
    static int code(int i) {
        return (i % 3 == 0 ? 0x80 : 0) | (0x38 + i % 8);
    }

    static float value(int i) {
        return (i % 3 == 0 ? -1 : 1) * (1 + (i % 8) / 8f);
    }

    static byte[] fp8(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) code(i);
        }
        return b;
    }

    private SafetensorsFile open(String json, byte[] data) {
        return SafetensorsFile.open(HandMade.file(dir.resolve("fp8.safetensors"), json, data));
    }

    @Test
    void blockScaleInvOverDimensionsThatAreNoWholeNumberOfBlocks() {
        // 5 x 6 weight, DeepSeek-style blocks of 4 x 4: a 2 x 2 grid whose last row and column blocks are partial
        // (like kv_a_proj_with_mqa's 576 rows in blocks of 128). Row 3 is in block row 0; reading the grid as
        // ceil(5 / 2) = 3 rows per block would put it in block row 1.
        float[][] s = {{2f, 0.5f}, {4f, 0.25f}};
        String json = "{" + entry("l.weight", "F8_E4M3", "[5,6]", 0, 30) + ","
                + entry("l.weight_scale_inv", "F32", "[2,2]", 32, 48) + "}";
        try (SafetensorsFile f = open(json, concat(fp8(30), new byte[2], f32(2f, 0.5f, 4f, 0.25f)))) {
            Tensor w = f.get("l.weight");
            assertEquals(DType.F8_E4M3, w.dtype());
            for (int r = 0; r < 5; r++) {
                float[] expected = new float[6];
                for (int c = 0; c < 6; c++) {
                    expected[c] = value(r * 6 + c) * s[r / 4][c / 4];
                }
                assertArrayEquals(expected, HandMade.row(w, r), "row " + r);
            }
        }
    }

    @Test
    void blockScaleStoredAsBf16() {
        String json = "{" + entry("l.weight", "F8_E4M3", "[5,6]", 0, 30) + ","
                + entry("l.weight_scale_inv", "BF16", "[2,2]", 30, 38) + "}";
        // bf16 bits: 0x4000 = 2, 0x3F00 = 0.5, 0x4080 = 4, 0x3E80 = 0.25
        try (SafetensorsFile f = open(json, concat(fp8(30), u16(0x4000, 0x3F00, 0x4080, 0x3E80)))) {
            Tensor w = f.get("l.weight");
            assertEquals(value(3 * 6 + 5) * 0.5f, HandMade.row(w, 3)[5]);
            assertEquals(value(4 * 6 + 5) * 0.25f, HandMade.row(w, 4)[5]);
            assertEquals(value(4 * 6) * 4f, HandMade.row(w, 4)[0]);
        }
    }

    @Test
    void exactBlockGridIsUsedInPlace() {
        String json = "{" + entry("l.weight", "F8_E4M3", "[8,8]", 0, 64) + ","
                + entry("l.weight_scale_inv", "F32", "[2,2]", 64, 80) + "}";
        try (SafetensorsFile f = open(json, concat(fp8(64), f32(2f, 0.5f, 4f, 0.25f)))) {
            Tensor w = f.get("l.weight");
            assertTrue(w.scale().data().isMapped(), "an f32 grid Dequant reads as stored needs no copy");
            assertEquals(value(3 * 8 + 4) * 0.5f, HandMade.row(w, 3)[4]);
            assertEquals(value(4 * 8 + 3) * 4f, HandMade.row(w, 4)[3]);
        }
    }

    @Test
    void perRowScale() {
        String json = "{" + entry("p.weight", "F8_E4M3", "[3,4]", 0, 12) + ","
                + entry("p.weight_scale", "F32", "[3,1]", 12, 24) + "}";
        float[] s = {0.5f, 2f, 0.125f};
        try (SafetensorsFile f = open(json, concat(fp8(12), f32(s)))) {
            Tensor w = f.get("p.weight");
            for (int r = 0; r < 3; r++) {
                for (int c = 0; c < 4; c++) {
                    assertEquals(value(r * 4 + c) * s[r], HandMade.row(w, r)[c]);
                }
            }
        }
    }

    @Test
    void perRowScaleWithoutTheTrailingOne() {
        String json = "{" + entry("p.weight", "F8_E4M3", "[3,4]", 0, 12) + ","
                + entry("p.weight_scale", "F32", "[3]", 12, 24) + "}";
        try (SafetensorsFile f = open(json, concat(fp8(12), f32(0.5f, 2f, 0.125f)))) {
            assertEquals(value(2 * 4 + 1) * 0.125f, HandMade.row(f.get("p.weight"), 2)[1]);
            assertEquals(value(1 * 4 + 3) * 2f, HandMade.row(f.get("p.weight"), 1)[3]);
        }
    }

    @Test
    void perTensorScalarScaleInBf16() {
        String json = "{" + entry("t.weight", "F8_E4M3", "[2,4]", 0, 8) + ","
                + entry("t.weight_scale", "BF16", "[]", 8, 10) + "}";
        try (SafetensorsFile f = open(json, concat(fp8(8), u16(0x4040)))) { // 0x4040 = 3
            float[] all = HandMade.all(f.get("t.weight"));
            for (int i = 0; i < 8; i++) {
                assertEquals(value(i) * 3f, all[i]);
            }
        }
    }

    @Test
    void scaleInvIsPreferredToScale() {
        String json = "{" + entry("t.weight", "F8_E4M3", "[1,4]", 0, 4) + ","
                + entry("t.weight_scale", "F32", "[1,1]", 4, 8) + ","
                + entry("t.weight_scale_inv", "F32", "[1,1]", 8, 12) + "}";
        try (SafetensorsFile f = open(json, concat(fp8(4), f32(100f), f32(0.5f)))) {
            assertEquals(value(1) * 0.5f, HandMade.row(f.get("t.weight"), 0)[1]);
            assertEquals("t.weight_scale_inv", f.get("t.weight").scale().name());
        }
    }

    @Test
    void stackedExpertsWithAGridPerExpert() {
        // (experts, rows, cols) = (2, 3, 4), blocks of 2 rows x 4 cols: each expert has 2 block rows, the second
        // one partial, so expert 1 starts a new block at its row 0 (global row 3)
        String json = "{" + entry("experts.down_proj", "F8_E4M3", "[2,3,4]", 0, 24) + ","
                + entry("experts.down_proj_scales_inv", "F32", "[2,2,1]", 24, 40) + "}";
        float[][] s = {{2f, 4f}, {0.5f, 8f}};
        try (SafetensorsFile f = open(json, concat(fp8(24), f32(2f, 4f, 0.5f, 8f)))) {
            Tensor w = f.get("experts.down_proj");
            for (int e = 0; e < 2; e++) {
                for (int r = 0; r < 3; r++) {
                    float[] got = HandMade.row(w, e * 3L + r);
                    for (int c = 0; c < 4; c++) {
                        assertEquals(value((e * 3 + r) * 4 + c) * s[e][r / 2], got[c], "expert " + e + " row " + r);
                    }
                }
            }
        }
    }

    @Test
    void missingScaleNamesTheCandidates() {
        try (SafetensorsFile f = open("{" + entry("m.weight", "F8_E4M3", "[2,2]", 0, 4) + "}", fp8(4))) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.find("m.weight"));
            assertTrue(e.getMessage().contains("'m.weight'") && e.getMessage().contains("m.weight_scale_inv")
                    && e.getMessage().contains("m.weight_scale") && e.getMessage().contains("fp8.safetensors"),
                    e.getMessage());
        }
    }

    @Test
    void scaleOfTheWrongTypeOrShape() {
        String badType = "{" + entry("m.weight", "F8_E4M3", "[2,2]", 0, 4) + ","
                + entry("m.weight_scale", "I64", "[1]", 8, 16) + "}";
        try (SafetensorsFile f = open(badType, new byte[16])) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.find("m.weight"));
            assertTrue(e.getMessage().contains("I64") && e.getMessage().contains("m.weight_scale"), e.getMessage());
        }
        String tooMany = "{" + entry("m.weight", "F8_E4M3", "[2,2]", 0, 4) + ","
                + entry("m.weight_scale_inv", "F32", "[3,3]", 4, 40) + "}";
        try (SafetensorsFile f = open(tooMany, new byte[40])) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.find("m.weight"));
            assertTrue(e.getMessage().contains("[3, 3]") && e.getMessage().contains("[2, 2]"), e.getMessage());
        }
        String wrongRank = "{" + entry("m.weight", "F8_E4M3", "[3,4]", 0, 12) + ","
                + entry("m.weight_scale", "F32", "[2]", 12, 20) + "}";
        try (SafetensorsFile f = open(wrongRank, new byte[20])) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.find("m.weight"));
            assertTrue(e.getMessage().contains("no block grid"), e.getMessage());
        }
    }

    @Test
    void blockSizeInference() {
        assertEquals(128, Fp8Scales.blockSize(576, 5)); // DeepSeek V3 kv_a_proj_with_mqa rows
        assertEquals(128, Fp8Scales.blockSize(7168, 56));
        assertEquals(128, Fp8Scales.blockSize(192, 2)); // not 96, although 192 / 2 divides
        assertEquals(1, Fp8Scales.blockSize(7, 7)); // per row
        assertEquals(7, Fp8Scales.blockSize(7, 1)); // one block spans the dimension
        assertEquals(4, Fp8Scales.blockSize(9, 3)); // 4 + 4 + 1: a power of two is preferred when it fits
        assertEquals(3, Fp8Scales.blockSize(12, 4)); // no power of two cuts 12 into 4 blocks; exact division does
        assertEquals(-1, Fp8Scales.blockSize(10, 6)); // no block length cuts 10 into 6
        assertEquals(-1, Fp8Scales.blockSize(2, 3));
    }
}
