package dev.herd.coordinator.plan;

/**
 * The unit a node loads: the tensors that always travel together. Ordered embedding, layers (each layer's
 * non-expert part, then its experts), LM head.
 */
public sealed interface TensorGroup extends Comparable<TensorGroup> {

    /** Token embedding. */
    record Embedding() implements TensorGroup {
    }

    /** Final norm and output projection. */
    record LmHead() implements TensorGroup {
    }

    /** A layer's attention, norms, router, shared expert or dense FFN: everything but its routed experts. */
    record Layer(int layer) implements TensorGroup {
    }

    /** One routed expert's gate, up and down projections. */
    record Expert(int layer, int expert) implements TensorGroup {
    }

    @Override
    default int compareTo(TensorGroup o) {
        int c = Long.compare(sortKey(this), sortKey(o));
        if (c != 0) {
            return c;
        }
        return Integer.compare(expertOf(this), expertOf(o));
    }

    private static long sortKey(TensorGroup g) {
        return switch (g) {
            case Embedding e -> -1L;
            case Layer l -> 2L * l.layer();
            case Expert x -> 2L * x.layer() + 1;
            case LmHead h -> Long.MAX_VALUE;
        };
    }

    private static int expertOf(TensorGroup g) {
        return g instanceof Expert x ? x.expert() : -1;
    }
}
