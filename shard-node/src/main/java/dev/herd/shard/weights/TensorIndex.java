package dev.herd.shard.weights;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** A model's tensors in the holder's order, by name. */
public final class TensorIndex {
    private final Map<String, StoredTensor> tensors;

    public TensorIndex(List<StoredTensor> tensors) {
        Map<String, StoredTensor> m = new LinkedHashMap<>();
        for (StoredTensor t : tensors) {
            if (m.putIfAbsent(t.name(), t) != null) {
                throw new IllegalArgumentException("tensor '" + t.name() + "' is listed twice");
            }
        }
        this.tensors = Collections.unmodifiableMap(m);
    }

    /** Every name, in index order. */
    public Set<String> names() {
        return tensors.keySet();
    }

    public Collection<StoredTensor> tensors() {
        return tensors.values();
    }

    public Optional<StoredTensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** @throws IllegalArgumentException when the model has no tensor of that name */
    public StoredTensor get(String name) {
        StoredTensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException("the model has no tensor named '" + name + "'");
        }
        return t;
    }

    /** Stored bytes of the named tensors together. */
    public long bytes(Collection<String> names) {
        long sum = 0;
        for (String n : names) {
            sum += get(n).byteSize();
        }
        return sum;
    }

    public int size() {
        return tensors.size();
    }
}
