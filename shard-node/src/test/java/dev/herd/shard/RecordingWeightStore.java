package dev.herd.shard;

import dev.herd.kernels.Tensor;
import dev.herd.model.weights.WeightStore;

import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A weight store that remembers which tensors were resolved through it, to see what a node touched. */
final class RecordingWeightStore implements WeightStore {
    private static final Pattern LAYER = Pattern.compile("^blk\\.(\\d+)\\.");

    private final WeightStore store;
    private final Set<String> found = ConcurrentHashMap.newKeySet();

    RecordingWeightStore(WeightStore store) {
        this.store = store;
    }

    @Override
    public Set<String> names() {
        return store.names();
    }

    @Override
    public Optional<Tensor> find(String name) {
        found.add(name);
        return store.find(name);
    }

    @Override
    public String describe() {
        return store.describe();
    }

    @Override
    public void close() {
        // the files belong to whoever opened them
    }

    /** The decoder layers (GGUF {@code blk.N.}) of every tensor resolved so far. */
    Set<Integer> layersResolved() {
        Set<Integer> layers = new TreeSet<>();
        for (String name : found) {
            Matcher m = LAYER.matcher(name);
            if (m.find()) {
                layers.add(Integer.parseInt(m.group(1)));
            }
        }
        return layers;
    }
}
