package dev.herd.shard;

import dev.herd.kernels.Backend;
import dev.herd.model.forward.Probe;
import dev.herd.proto.v1.DType;

import java.time.Duration;

/**
 * A node's own settings (the middle of the three configuration tiers: model config, node settings, plan).
 *
 * @param nodeId       this node's stable cluster id
 * @param backend      the kernels its layers and experts run on
 * @param wire         element type of the activations it sends: F32 (exact) or BF16 (half the bytes, rounded)
 * @param peerDeadline the longest a remote expert request may go unanswered before the step fails
 * @param probe        sees the stage's named intermediates ({@link Probe#NONE} in production; tests and
 *                     debugging read e.g. the last stage's {@code result_output} logits)
 */
public record NodeSettings(String nodeId, Backend backend, DType wire, Duration peerDeadline, Probe probe) {
    public NodeSettings {
        if (wire != DType.DTYPE_F32 && wire != DType.DTYPE_BF16) {
            throw new IllegalArgumentException("activations travel as F32 or BF16, not " + wire);
        }
        if (peerDeadline.isNegative() || peerDeadline.isZero()) {
            throw new IllegalArgumentException("the peer deadline must be positive, got " + peerDeadline);
        }
    }

    /** F32 on the wire, a 10 s peer deadline, no probe. */
    public static NodeSettings of(String nodeId, Backend backend) {
        return new NodeSettings(nodeId, backend, DType.DTYPE_F32, Duration.ofSeconds(10), Probe.NONE);
    }

    public NodeSettings withWire(DType type) {
        return new NodeSettings(nodeId, backend, type, peerDeadline, probe);
    }

    public NodeSettings withPeerDeadline(Duration d) {
        return new NodeSettings(nodeId, backend, wire, d, probe);
    }

    public NodeSettings withProbe(Probe p) {
        return new NodeSettings(nodeId, backend, wire, peerDeadline, p);
    }
}
