package dev.herd.shard;

/** One routed expert of one MoE layer: the unit of expert placement. Both 0-based. */
public record ExpertRef(int layer, int expert) {
    public ExpertRef {
        if (layer < 0 || expert < 0) {
            throw new IllegalArgumentException("bad expert (" + layer + ", " + expert + ")");
        }
    }

    @Override
    public String toString() {
        return "expert " + expert + " of layer " + layer;
    }
}
