package dev.herd.shard;

import java.util.concurrent.atomic.LongAdder;

/**
 * Bytes this node put on and took off the data path, counted as gRPC message bytes (the serialized protobuf
 * plus gRPC's 5-byte length prefix; HTTP/2 frame headers and TLS, if any, are not included).
 */
public final class WireCounters {
    /** gRPC's per-message prefix: a compression flag and a 4-byte length. */
    static final int MESSAGE_PREFIX = 5;

    private final LongAdder stageInputs = new LongAdder();
    private final LongAdder stageInputBytes = new LongAdder();
    private final LongAdder expertRequests = new LongAdder();
    private final LongAdder expertRequestBytes = new LongAdder();
    private final LongAdder expertResponseBytes = new LongAdder();

    void stageInputSent(int serializedSize) {
        stageInputs.increment();
        stageInputBytes.add(serializedSize + MESSAGE_PREFIX);
    }

    void expertRequestSent(int serializedSize) {
        expertRequests.increment();
        expertRequestBytes.add(serializedSize + MESSAGE_PREFIX);
    }

    void expertResponseReceived(int serializedSize) {
        expertResponseBytes.add(serializedSize + MESSAGE_PREFIX);
    }

    public Snapshot snapshot() {
        return new Snapshot(stageInputs.sum(), stageInputBytes.sum(), expertRequests.sum(), expertRequestBytes.sum(),
                expertResponseBytes.sum());
    }

    /**
     * @param stageInputs         step inputs sent to a next stage
     * @param stageInputBytes     their bytes
     * @param expertRequests      dispatches sent to remote expert nodes
     * @param expertRequestBytes  their bytes
     * @param expertResponseBytes bytes of the answers received
     */
    public record Snapshot(long stageInputs, long stageInputBytes, long expertRequests, long expertRequestBytes,
                           long expertResponseBytes) {
        public Snapshot minus(Snapshot before) {
            return new Snapshot(stageInputs - before.stageInputs, stageInputBytes - before.stageInputBytes,
                    expertRequests - before.expertRequests, expertRequestBytes - before.expertRequestBytes,
                    expertResponseBytes - before.expertResponseBytes);
        }

        public Snapshot plus(Snapshot o) {
            return new Snapshot(stageInputs + o.stageInputs, stageInputBytes + o.stageInputBytes,
                    expertRequests + o.expertRequests, expertRequestBytes + o.expertRequestBytes,
                    expertResponseBytes + o.expertResponseBytes);
        }
    }
}
