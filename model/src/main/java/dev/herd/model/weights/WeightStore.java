package dev.herd.model.weights;

import dev.herd.kernels.Tensor;

import java.util.Optional;
import java.util.Set;

/**
 * Named weight tensors of one model, memory-mapped from its files. Tensors stay valid until
 * {@link #close()}; nothing is copied onto the Java heap.
 */
public interface WeightStore extends AutoCloseable {

    /** Every tensor name the files hold, in the checkpoint's own naming. */
    Set<String> names();

    /** The tensor, or empty when the files hold none of that name. */
    Optional<Tensor> find(String name);

    /** The tensor; a {@link ModelFormatException} naming it and the files when it is missing. */
    default Tensor get(String name) {
        return find(name).orElseThrow(() -> new ModelFormatException(describe() + ": no tensor named '" + name + "'"));
    }

    /** Where the weights come from (file or directory), for error messages. */
    String describe();

    /** Unmaps the files; tensors handed out before become invalid. */
    @Override
    void close();
}
