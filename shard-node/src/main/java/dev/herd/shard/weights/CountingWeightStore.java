package dev.herd.shard.weights;

import dev.herd.kernels.Tensor;
import dev.herd.model.weights.WeightStore;

import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The store a node computes with, counting every distinct tensor it resolves and that tensor's stored bytes: what
 * the node can have touched of its model files (or of its cache of fetched tensors). Resolving is where a node
 * takes a tensor for its part; a node that resolves a tensor outside its part shows it here. A stacked tensor of
 * which the node fetched only some slices counts the bytes of those slices (the rest of it is not on this node).
 */
public final class CountingWeightStore implements WeightStore {
    private final WeightStore store;
    private final WeightCounters counters;
    private final Map<String, Long> resolved = new ConcurrentHashMap<>();

    public CountingWeightStore(WeightStore store, WeightCounters counters) {
        this.store = store;
        this.counters = counters;
    }

    @Override
    public Set<String> names() {
        return store.names();
    }

    @Override
    public Optional<Tensor> find(String name) {
        Optional<Tensor> t = store.find(name);
        t.ifPresent(x -> {
            long bytes = counters.heldBytes(name, x.data().byteSize());
            resolved.compute(name, (n, before) -> {
                if (before == null) {
                    counters.resolved(bytes);
                } else if (bytes > before) {
                    counters.resolvedMore(bytes - before); // a later assignment fetched more slices of it
                }
                return before == null ? bytes : Math.max(before, bytes);
            });
        });
        return t;
    }

    /** Each tensor resolved so far, with its stored bytes. */
    public Map<String, Long> resolved() {
        return Map.copyOf(resolved);
    }

    @Override
    public String describe() {
        return store.describe();
    }

    @Override
    public void close() {
        // the store belongs to whoever opened the model
    }
}
