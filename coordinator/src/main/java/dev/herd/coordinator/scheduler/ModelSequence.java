package dev.herd.coordinator.scheduler;

/** A sequence's state inside a {@link ModelRunner}: its KV cache (wherever that lives) and its sampler. */
public interface ModelSequence {
    /** Positions computed so far (in the KV cache). */
    int computed();
}
