package dev.herd.shard.weights;

/**
 * What travels as one unit and is checked against one SHA-256: a whole stored tensor, or one slice of it along its
 * outermost dimension (one routed expert of a GGUF {@code ffn_*_exps} tensor, shape {@code [experts, rows, cols]}).
 * A slice's bytes are contiguous in the file, {@code byteSize / shape[0]} of them at {@code slice} times that,
 * which is exactly what {@code Tensor.slice} hands the forward pass, so a node holding some experts of a layer
 * needs only those bytes.
 *
 * <p>Named like the model's own slices: {@code blk.3.ffn_up_exps.weight[5]} is slice 5, a plain name the whole
 * tensor ({@link #key()}, parsed by {@link TensorIndex#piece}).
 *
 * @param tensor the stored tensor
 * @param slice  the slice's index, or {@link #WHOLE}
 */
public record TensorPiece(StoredTensor tensor, long slice) {
    public static final long WHOLE = -1;

    public TensorPiece {
        if (slice != WHOLE) {
            long count = tensor.sliceCount();
            if (slice < 0 || slice >= count) {
                throw new IllegalArgumentException("tensor '" + tensor.name() + "' has " + count
                        + " slices along its outermost dimension; there is no slice " + slice);
            }
        }
    }

    public static TensorPiece whole(StoredTensor tensor) {
        return new TensorPiece(tensor, WHOLE);
    }

    /** The name slices are known by: the tensor's, with {@code [index]} for a slice. */
    public static String key(String tensor, long slice) {
        return tensor + "[" + slice + "]";
    }

    public String name() {
        return tensor.name();
    }

    public boolean isSlice() {
        return slice != WHOLE;
    }

    public String key() {
        return isSlice() ? key(tensor.name(), slice) : tensor.name();
    }

    /** Where the piece's bytes start within the tensor's. */
    public long start() {
        return isSlice() ? slice * tensor.sliceBytes() : 0;
    }

    /** How many bytes the piece has. */
    public long size() {
        return isSlice() ? tensor.sliceBytes() : tensor.byteSize();
    }

    /** "tensor 'x'" or "slice 5 of tensor 'x'", for messages. */
    public String describe() {
        return (isSlice() ? "slice " + slice + " of tensor '" : "tensor '") + tensor.name() + "'";
    }

    @Override
    public String toString() {
        return key();
    }
}
