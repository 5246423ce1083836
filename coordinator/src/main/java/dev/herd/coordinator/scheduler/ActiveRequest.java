package dev.herd.coordinator.scheduler;

import java.util.List;

/** A request inside the scheduler: its sequences' shared bookkeeping. Fields other than the flag are the scheduler thread's. */
final class ActiveRequest {
    final GenerationRequest request;
    final GenerationSink sink;
    final long acceptedNanos;
    /** The seed of choice 0; the other choices derive theirs from it. */
    final long seed;
    /** Set by any thread (client gone); acted on by the scheduler's thread at its next step. */
    volatile boolean cancelled;
    /** Built by the scheduler's thread when it takes the request in; empty until then. */
    List<Sequence> sequences = List.of();
    /** Still counted in the bounded queue: none of its sequences has started. */
    boolean queued = true;
    boolean firstTokenSeen;
    int completionTokens;
    int unfinished;
    /** Completed, failed or cancelled: the sink gets nothing more. */
    boolean closed;

    ActiveRequest(GenerationRequest request, GenerationSink sink, long acceptedNanos, long seed) {
        this.request = request;
        this.sink = sink;
        this.acceptedNanos = acceptedNanos;
        this.seed = seed;
    }
}
