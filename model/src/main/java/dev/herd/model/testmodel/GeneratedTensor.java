package dev.herd.model.testmodel;

import java.util.function.Supplier;

/**
 * One tensor of a generated model, its values produced on demand so that a writer streams a large model
 * without holding it in memory.
 *
 * @param name  the checkpoint name in the target format
 * @param shape outermost first
 * @param data  row-major f32 values, recomputed deterministically on each call
 * @param norm  a norm weight vector (kept F32 in quantized files, as converters do)
 */
public record GeneratedTensor(String name, long[] shape, Supplier<float[]> data, boolean norm) {
    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
