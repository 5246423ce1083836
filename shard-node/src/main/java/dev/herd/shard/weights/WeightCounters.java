package dev.herd.shard.weights;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Where a node's weight bytes came from and went to since it started: tensors resolved to compute with (from
 * model files or the cache of fetched tensors), fetched from peers, reused from the cache, and served to peers.
 * Counted so that a test, an operator or the metrics can see that a node touched and moved only its share.
 *
 * <p>Also where the fetcher tells the node's {@link CountingWeightStore} how much of a stacked tensor the node
 * actually has (the slices of the experts it holds), since the store hands out the tensor at its full shape.
 */
public final class WeightCounters {
    private final LongAdder resolvedTensors = new LongAdder();
    private final LongAdder resolvedBytes = new LongAdder();
    private final LongAdder receivedTensors = new LongAdder();
    private final LongAdder receivedBytes = new LongAdder();
    private final LongAdder cachedTensors = new LongAdder();
    private final LongAdder cachedBytes = new LongAdder();
    private final LongAdder servedTensors = new LongAdder();
    private final LongAdder servedBytes = new LongAdder();
    private final Set<String> receivedNames = ConcurrentHashMap.newKeySet();
    private final Map<String, Long> partlyHeld = new ConcurrentHashMap<>();

    void resolved(long bytes) {
        resolvedTensors.increment();
        resolvedBytes.add(bytes);
    }

    /** Tensor bytes arrived over the wire (counted as they arrive, so progress shows them). */
    void received(long bytes) {
        receivedBytes.add(bytes);
    }

    /** A fetched tensor, or a slice of it, passed its check: the tensor counts once, however many slices came. */
    void receivedTensor(String name) {
        if (receivedNames.add(name)) {
            receivedTensors.increment();
        }
    }

    void resolvedMore(long bytes) {
        resolvedBytes.add(bytes);
    }

    /** The node has only {@code bytes} of the tensor: the slices fetched of it. */
    void partlyHeld(String name, long bytes) {
        partlyHeld.put(name, bytes);
    }

    /** The bytes of a resolved tensor the node has: {@code whole} unless it fetched only slices of it. */
    long heldBytes(String name, long whole) {
        return partlyHeld.getOrDefault(name, whole);
    }

    void cached(long bytes) {
        cachedTensors.increment();
        cachedBytes.add(bytes);
    }

    void served(long bytes) {
        servedBytes.add(bytes);
    }

    void servedTensor() {
        servedTensors.increment();
    }

    public Snapshot snapshot() {
        return new Snapshot(resolvedTensors.sum(), resolvedBytes.sum(), receivedTensors.sum(), receivedBytes.sum(),
                cachedTensors.sum(), cachedBytes.sum(), servedTensors.sum(), servedBytes.sum());
    }

    /**
     * @param resolvedTensors distinct tensors resolved to compute with
     * @param resolvedBytes   their stored bytes on this node (of a stacked tensor fetched as slices, those slices)
     * @param receivedTensors distinct tensors fetched from peers and checked (whole, or one or more slices)
     * @param receivedBytes   tensor bytes received (including those of a tensor later discarded as corrupt)
     * @param cachedTensors   tensors reused from the local cache after checking them again
     * @param cachedBytes     their bytes
     * @param servedTensors   tensors this node finished sending to peers
     * @param servedBytes     tensor bytes it sent
     */
    public record Snapshot(long resolvedTensors, long resolvedBytes, long receivedTensors, long receivedBytes,
                           long cachedTensors, long cachedBytes, long servedTensors, long servedBytes) {

        public dev.herd.proto.v1.WeightCounters toProto() {
            return dev.herd.proto.v1.WeightCounters.newBuilder()
                    .setResolvedTensors(resolvedTensors).setResolvedBytes(resolvedBytes)
                    .setReceivedTensors(receivedTensors).setReceivedBytes(receivedBytes)
                    .setCachedTensors(cachedTensors).setCachedBytes(cachedBytes)
                    .setServedTensors(servedTensors).setServedBytes(servedBytes).build();
        }
    }
}
