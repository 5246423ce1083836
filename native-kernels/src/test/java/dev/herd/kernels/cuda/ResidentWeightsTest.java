package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which weights are uploaded, when, and which device copy a tensor maps to (no GPU needed). */
class ResidentWeightsTest {

    private static Tensor filled(Arena arena, String name, long rows, long cols) {
        MemorySegment s = arena.allocate(4 * rows * cols, 64);
        for (long i = 0; i < rows * cols; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.5f + name.length());
        }
        return new Tensor(name, DType.F32, new long[] {rows, cols}, s);
    }

    @Test
    void uploadsEachTensorOnceAndTheDeviceCopyHoldsItsBytes() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        ResidentWeights w = new ResidentWeights(mem);
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = filled(arena, "a", 3, 8);
            Tensor b = filled(arena, "bb", 2, 8);
            long da = w.device(a, true);
            long db = w.device(b, true);
            assertEquals(da, w.device(a, true));
            assertEquals(da, w.device(new Tensor("same bytes, new record", DType.F32, new long[] {24}, a.data()), true));
            assertNotEquals(da, db);
            assertEquals(2, w.count());
            assertEquals(a.data().byteSize() + b.data().byteSize(), mem.uploadedBytes);
            assertEquals(-1, mem.view(da, a.data().byteSize()).mismatch(a.data()));
            assertEquals(-1, mem.view(db, b.data().byteSize()).mismatch(b.data()));
        }
    }

    @Test
    void aSliceOfAnUploadedTensorUsesItsCopyAtTheSliceOffset() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        ResidentWeights w = new ResidentWeights(mem);
        try (Arena arena = Arena.ofConfined()) {
            Tensor stacked = filled(arena, "experts", 4 * 6, 8).reshape("experts", 4, 6, 8);
            long base = w.device(stacked, true);
            Tensor expert2 = stacked.slice(2);
            assertEquals(base + 2 * 6 * 8 * 4, w.device(expert2, true));
            assertEquals(1, w.count(), "no second upload");
            // an unaligned sub-range (a row of 5 floats starting at float 3) is uploaded on its own
            Tensor odd = new Tensor("odd", DType.F32, new long[] {5}, stacked.data().asSlice(12, 20));
            long d = w.device(odd, true);
            assertEquals(2, w.count());
            assertEquals(-1, mem.view(d, 20).mismatch(odd.data()));
        }
    }

    @Test
    void memoryOfAClosedArenaIsForgottenAndFreed() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        ResidentWeights w = new ResidentWeights(mem);
        try (Arena backing = Arena.ofConfined()) {
            // two views of one address under different lifetimes: a file mapped, closed, and mapped again there
            MemorySegment bytes = backing.allocate(128, 64);
            Arena first = Arena.ofConfined();
            bytes.fill((byte) 1);
            w.device(new Tensor("t", DType.F32, new long[] {32}, bytes.reinterpret(128, first, null)), true);
            first.close();
            try (Arena second = Arena.ofConfined()) {
                bytes.fill((byte) 7);
                Tensor again = new Tensor("t2", DType.F32, new long[] {32}, bytes.reinterpret(128, second, null));
                long d = w.device(again, true);
                assertEquals(-1, mem.view(d, 128).mismatch(bytes), "the new contents, not the stale copy");
                assertEquals(1, w.count(), "the stale entry was dropped");
                assertTrue(mem.log.contains("free"));
            }
        }
    }

    @Test
    void heapTensorsAreToldApartByTheirArrays() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        ResidentWeights w = new ResidentWeights(mem);
        MemorySegment s1 = MemorySegment.ofArray(new float[] {1, 2, 3, 4});
        MemorySegment s2 = MemorySegment.ofArray(new float[] {5, 6, 7, 8});
        Tensor t1 = new Tensor("h1", DType.F32, new long[] {4}, s1);
        Tensor t2 = new Tensor("h2", DType.F32, new long[] {4}, s2);
        long d1 = w.device(t1, true);
        long d2 = w.device(t2, true);
        assertNotEquals(d1, d2, "same offset 0, different arrays");
        assertEquals(-1, mem.view(d2, 16).mismatch(s2));
        assertEquals(d1, w.device(t1, true));
    }

    @Test
    void refusesToUploadWhenUploadsAreNotAllowed() {
        ResidentWeights w = new ResidentWeights(new FakeDeviceMemory());
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = filled(arena, "late", 2, 8);
            var e = assertThrows(IllegalStateException.class, () -> w.device(t, false));
            assertTrue(e.getMessage().contains("late") && e.getMessage().contains("prepare"), e.getMessage());
            w.device(t, true);
            assertTrue(w.isResident(t));
            w.device(t, false);
        }
    }

    @Test
    void clearFreesEverything() {
        FakeDeviceMemory mem = new FakeDeviceMemory();
        ResidentWeights w = new ResidentWeights(mem);
        try (Arena arena = Arena.ofConfined()) {
            w.device(filled(arena, "x", 2, 8), true);
            w.device(filled(arena, "y", 2, 8), true);
            w.clear();
            assertEquals(0, mem.allocations());
            assertEquals(0, w.bytes());
        }
    }
}
