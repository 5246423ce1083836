package dev.herd.kernels.cuda;

import dev.herd.kernels.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Weights kept on the device, uploaded once each in their stored layout and found again by the host
 * memory they came from: the segment's base (the heap array, or none for native memory), address and size.
 *
 * <p>A tensor inside an already uploaded one (an expert slice of a stacked expert tensor uploaded whole)
 * reuses that copy at its offset, when the offset keeps the 16-byte alignment the kernels' vector loads
 * need; anything else is uploaded on its own. Host memory is assumed not to change while it is resident.
 * An entry whose host memory has been freed (its segment's scope is no longer alive) is dropped and its
 * device memory freed when next looked up, so memory a closed model left behind is not mistaken for a new
 * model mapped at the same address. Nothing else is evicted: {@link #clear()} frees everything.
 */
final class ResidentWeights {
    /** Key of native segments, which have no heap base. */
    private static final Object NATIVE = new Object();

    private record Resident(long address, long bytes, MemorySegment.Scope scope, long device) {
        boolean contains(long a, long b) {
            return a >= address && a + b <= address + bytes;
        }
    }

    private final DeviceMemory memory;
    /** Per heap base (or NATIVE): exact entries by (address, size), and the largest entry starting at each address. */
    private final Map<Object, Map<Long, List<Resident>>> exact = new IdentityHashMap<>();
    private final Map<Object, TreeMap<Long, Resident>> ranges = new IdentityHashMap<>();
    private long bytes;
    private int count;

    ResidentWeights(DeviceMemory memory) {
        this.memory = memory;
    }

    /** The device copy of {@code t}'s data, uploading it first unless {@code uploadAllowed} is false. */
    long device(Tensor t, boolean uploadAllowed) {
        MemorySegment seg = t.data();
        Object base = seg.heapBase().orElse(NATIVE);
        long address = seg.address();
        long size = seg.byteSize();
        Map<Long, List<Resident>> byAddress = exact.computeIfAbsent(base, b -> new HashMap<>());
        for (Resident r : List.copyOf(byAddress.getOrDefault(address, List.of()))) {
            if (!r.scope().isAlive()) {
                drop(base, r);
            } else if (r.bytes() == size && sameMemory(base, r, seg)) {
                return r.device();
            }
        }
        TreeMap<Long, Resident> tree = ranges.get(base);
        var floor = tree == null ? null : tree.floorEntry(address);
        if (floor != null) {
            Resident r = floor.getValue();
            if (!r.scope().isAlive()) {
                drop(base, r);
            } else if (r.contains(address, size) && sameMemory(base, r, seg) && (address - r.address()) % 16 == 0) {
                return r.device() + (address - r.address());
            }
        }
        if (!uploadAllowed) {
            throw new IllegalStateException("weight " + t + " is not on the device: upload it (CudaBackend.prepare)"
                    + " before capturing a graph");
        }
        long device = memory.allocate(size, "weight " + t);
        try {
            memory.upload(seg, device);
        } catch (RuntimeException | Error e) {
            memory.free(device);
            throw e;
        }
        Resident r = new Resident(address, size, seg.scope(), device);
        byAddress.computeIfAbsent(address, a -> new ArrayList<>(1)).add(r);
        TreeMap<Long, Resident> index = ranges.computeIfAbsent(base, b -> new TreeMap<>());
        Resident largest = index.get(address);
        if (largest == null || largest.bytes() < size) {
            index.put(address, r);
        }
        bytes += size;
        count++;
        return device;
    }

    /**
     * Whether a resident entry and a segment at the same base are views of the same memory: heap segments
     * of one array always are; native ones must come from the same arena (a freed and re-mapped range
     * gets a new scope even at the same address).
     */
    private static boolean sameMemory(Object base, Resident r, MemorySegment seg) {
        return base != NATIVE || r.scope().equals(seg.scope());
    }

    boolean isResident(Tensor t) {
        MemorySegment seg = t.data();
        Object base = seg.heapBase().orElse(NATIVE);
        List<Resident> here = exact.getOrDefault(base, Map.of()).get(seg.address());
        return here != null && here.stream().anyMatch(r -> r.bytes() == seg.byteSize() && r.scope().isAlive()
                && sameMemory(base, r, seg));
    }

    private void drop(Object base, Resident r) {
        Map<Long, List<Resident>> byAddress = exact.get(base);
        List<Resident> here = byAddress.get(r.address());
        here.remove(r);
        if (here.isEmpty()) {
            byAddress.remove(r.address());
        }
        TreeMap<Long, Resident> index = ranges.get(base);
        if (index != null && index.get(r.address()) == r) {
            index.remove(r.address());
            // another entry may start at the same address: index the largest that remains
            here.stream().max((a, b) -> Long.compare(a.bytes(), b.bytes())).ifPresent(o -> index.put(o.address(), o));
        }
        bytes -= r.bytes();
        count--;
        memory.free(r.device());
    }

    /** Bytes of device memory held for weights. */
    long bytes() {
        return bytes;
    }

    /** Number of separate uploads held. */
    int count() {
        return count;
    }

    /** Frees every device copy. */
    void clear() {
        for (Map<Long, List<Resident>> byAddress : exact.values()) {
            for (List<Resident> list : byAddress.values()) {
                for (Resident r : list) {
                    memory.free(r.device());
                }
            }
        }
        exact.clear();
        ranges.clear();
        bytes = 0;
        count = 0;
    }
}
