package dev.herd.shard.weights;

import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** A model's tensors in the holder's order, by name. */
public final class TensorIndex {
    private final Map<String, StoredTensor> tensors;
    private final Map<String, Integer> positions = new HashMap<>();

    public TensorIndex(List<StoredTensor> tensors) {
        Map<String, StoredTensor> m = new LinkedHashMap<>();
        for (StoredTensor t : tensors) {
            if (m.putIfAbsent(t.name(), t) != null) {
                throw new IllegalArgumentException("tensor '" + t.name() + "' is listed twice");
            }
        }
        this.tensors = Collections.unmodifiableMap(m);
        for (String n : m.keySet()) {
            positions.put(n, positions.size());
        }
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

    /**
     * A whole tensor by its name, or a slice by {@code name[index]} (see {@link TensorPiece}).
     *
     * @throws IllegalArgumentException naming the key when the model has no such tensor or slice
     */
    public TensorPiece piece(String key) {
        StoredTensor t = tensors.get(key);
        if (t != null) {
            return TensorPiece.whole(t);
        }
        int open = key.lastIndexOf('[');
        if (open > 0 && key.endsWith("]")) {
            StoredTensor stacked = tensors.get(key.substring(0, open));
            if (stacked != null) {
                long slice;
                try {
                    slice = Long.parseLong(key.substring(open + 1, key.length() - 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("'" + key + "' names no slice of tensor '" + stacked.name()
                            + "'");
                }
                if (slice < 0) { // not TensorPiece.WHOLE: a name asking for a slice never means the whole tensor
                    throw new IllegalArgumentException("'" + key + "' names no slice of tensor '" + stacked.name()
                            + "'");
                }
                return new TensorPiece(stacked, slice);
            }
        }
        return TensorPiece.whole(get(key)); // fails naming the key
    }

    /** Stored bytes of the named tensors (or slices, see {@link #piece}) together. */
    public long bytes(Collection<String> keys) {
        long sum = 0;
        for (String k : keys) {
            sum += piece(k).size();
        }
        return sum;
    }

    /** Where a tensor is in the index (the holder's order, in which it is read and sent). */
    public int position(String name) {
        Integer p = positions.get(name);
        if (p == null) {
            throw new IllegalArgumentException("the model has no tensor named '" + name + "'");
        }
        return p;
    }

    public int size() {
        return tensors.size();
    }
}
