package dev.herd.model.forward;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.testmodel.GeneratedTensor;
import dev.herd.model.weights.WeightStore;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** F32 tensors in heap segments, for testing the forward pass without any file format in the way. */
final class InMemoryWeightStore implements WeightStore {
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    InMemoryWeightStore(List<GeneratedTensor> generated) {
        for (GeneratedTensor g : generated) {
            float[] data = g.data().get();
            MemorySegment seg = MemorySegment.ofArray(new byte[data.length * 4]);
            MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0,
                    data.length);
            tensors.put(g.name(), new Tensor(g.name(), DType.F32, g.shape(), seg));
        }
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public Optional<Tensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    @Override
    public String describe() {
        return "in-memory test weights";
    }

    @Override
    public void close() {
    }
}
