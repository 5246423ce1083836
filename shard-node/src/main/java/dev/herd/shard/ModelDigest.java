package dev.herd.shard;

import dev.herd.kernels.Tensor;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.weights.WeightStore;
import dev.herd.shard.weights.StoredTensor;
import dev.herd.shard.weights.TensorIndex;

import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeSet;

/**
 * The model identity every hello carries: lowercase hex SHA-256 over the model's config and its tensor index
 * (names, element types, shapes, byte sizes), so two nodes that opened different checkpoints or different
 * quantizations of one model never exchange activations. Only headers are read, never tensor data.
 */
public final class ModelDigest {
    private ModelDigest() {
    }

    public static String of(ModelConfig config, WeightStore store) {
        MessageDigest sha = sha256();
        update(sha, canonical(config));
        for (String name : new TreeSet<>(store.names())) {
            Tensor t = store.get(name);
            update(sha, line(name, t.dtype().name(), t.shape(), t.data().byteSize()));
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * The same digest from a holder's tensor index, as a node that has no model files computes it to check what
     * a holder described. Equal to {@link #of(ModelConfig, WeightStore)} because the formats' type names of the
     * types Herd reads are Herd's own type names.
     */
    public static String of(ModelConfig config, TensorIndex index) {
        MessageDigest sha = sha256();
        update(sha, canonical(config));
        for (String name : new TreeSet<>(index.names())) {
            StoredTensor t = index.get(name);
            update(sha, line(name, t.dtype(), t.shape(), t.byteSize()));
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static String line(String name, String dtype, long[] shape, long bytes) {
        return name + ' ' + dtype + ' ' + Arrays.toString(shape) + ' ' + bytes;
    }

    /**
     * A config written out field by field. Record {@code toString} cannot be used: arrays inside records
     * (RoPE frequency factors) print as identity hashes, which differ from process to process.
     */
    static String canonical(Object value) {
        if (value == null) {
            return "null";
        }
        if (value instanceof float[] a) {
            return Arrays.toString(a);
        }
        if (value instanceof List<?> list) {
            StringBuilder b = new StringBuilder("[");
            for (Object o : list) {
                b.append(canonical(o)).append(',');
            }
            return b.append(']').toString();
        }
        if (value instanceof Record r) {
            StringBuilder b = new StringBuilder(r.getClass().getSimpleName()).append('(');
            for (RecordComponent c : r.getClass().getRecordComponents()) {
                try {
                    b.append(c.getName()).append('=').append(canonical(c.getAccessor().invoke(r))).append(';');
                } catch (ReflectiveOperationException e) {
                    // a public record's accessor is always callable; failing here is a JDK bug, not bad input
                    throw new IllegalStateException("cannot read " + c.getName() + " of " + r.getClass(), e);
                }
            }
            return b.append(')').toString();
        }
        if (value.getClass().isArray()) {
            throw new IllegalArgumentException("no canonical form for " + value.getClass().getSimpleName()
                    + " in a model config");
        }
        return String.valueOf(value);
    }

    private static void update(MessageDigest sha, String s) {
        sha.update(s.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) '\n');
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            // every JDK ships SHA-256 (it is a required algorithm)
            throw new IllegalStateException(e);
        }
    }
}
