package dev.herd.coordinator.scheduler;

/**
 * A snapshot of the scheduler, published after every step and every change of state.
 *
 * @param queuedRequests   accepted requests none of whose sequences started yet
 * @param runningSequences sequences holding KV blocks
 * @param waitingSequences sequences waiting for blocks (new or preempted)
 * @param kvBlocksUsed     blocks held by running sequences
 * @param kvBlocksCached   blocks held by finished sequences kept for their prompt prefixes (freed on demand)
 * @param kvBlocksFree     blocks free
 * @param preemptions      sequences preempted so far (freed and requeued to recompute)
 * @param steps            forward steps run so far
 * @param cachedTokens     prompt positions copied from cached prefixes instead of computed, so far
 */
public record SchedulerStats(int queuedRequests, int runningSequences, int waitingSequences, int kvBlocksUsed,
                             int kvBlocksCached, int kvBlocksFree, long preemptions, long steps, long cachedTokens) {
    public int kvBlocksTotal() {
        return kvBlocksUsed + kvBlocksCached + kvBlocksFree;
    }

    /** Nothing running, nothing waiting, every block free. */
    public boolean idle() {
        return queuedRequests == 0 && runningSequences == 0 && waitingSequences == 0 && kvBlocksUsed == 0;
    }
}
