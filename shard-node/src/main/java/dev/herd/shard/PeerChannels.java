package dev.herd.shard;

import dev.herd.proto.v1.WireLimit;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * One HTTP/2 connection per peer address, shared by every stream to that peer (stage forwarding and expert
 * dispatch multiplex on it). Inbound messages up to {@link WireLimit#WIRE_LIMIT_MAX_MESSAGE_BYTES}: gRPC's
 * 4 MiB default is smaller than one frame of a real model.
 */
public final class PeerChannels implements AutoCloseable {
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();

    public ManagedChannel channel(String address) {
        return channels.computeIfAbsent(address, PeerChannels::open);
    }

    /** A channel to {@code address} ("host:port") with the activation limits, owned by the caller. */
    public static ManagedChannel open(String address) {
        return NettyChannelBuilder.forTarget(address)
                .usePlaintext()
                .maxInboundMessageSize(WireLimit.WIRE_LIMIT_MAX_MESSAGE_BYTES_VALUE)
                .build();
    }

    @Override
    public void close() {
        for (ManagedChannel c : channels.values()) {
            c.shutdownNow();
        }
        for (ManagedChannel c : channels.values()) {
            try {
                c.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                // closing is best effort: keep the interrupt for the caller and stop waiting
                Thread.currentThread().interrupt();
                return;
            }
        }
        channels.clear();
    }
}
