package dev.herd.shard;

/**
 * A peer on the data path (a remote expert node, the next stage) is gone, refused us, or did not answer in
 * time. The step that needed it fails with {@code FAILURE_REASON_PEER_UNAVAILABLE}; the node keeps serving.
 */
public final class PeerUnavailableException extends RuntimeException {
    public PeerUnavailableException(String message) {
        super(message);
    }
}
