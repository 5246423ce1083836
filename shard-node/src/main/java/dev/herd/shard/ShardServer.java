package dev.herd.shard;

import dev.herd.proto.v1.WireLimit;
import dev.herd.shard.weights.WeightOrigin;
import dev.herd.shard.weights.WeightTransferService;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * A shard node on a port: the {@link ShardGrpcService} over HTTP/2 (Netty), accepting messages up to
 * {@link WireLimit#WIRE_LIMIT_MAX_MESSAGE_BYTES} since one activation frame of a real model exceeds gRPC's
 * 4 MiB default; and, on a node that has the model files, {@link WeightTransferService} so that nodes without
 * them can fetch their tensors from it.
 */
public final class ShardServer implements AutoCloseable {
    private final Server server;
    private final String host;
    private final int port;

    private ShardServer(Server server, String host) {
        this.server = server;
        this.host = host;
        this.port = server.getPort(); // kept: a stopped server no longer tells, and a restart reuses it
    }

    /** Serves {@code node} on {@code host}:{@code port}; port 0 picks a free one (see {@link #port()}). */
    public static ShardServer start(ShardNode node, String host, int port) {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .addService(new ShardGrpcService(node))
                .callExecutor(DataPathExecutor.server())
                .maxInboundMessageSize(WireLimit.WIRE_LIMIT_MAX_MESSAGE_BYTES_VALUE);
        if (node.origin() instanceof WeightOrigin.LocalFiles local) {
            builder.addService(new WeightTransferService(local.held(), node.identity(), node.weights()));
        }
        Server server = builder.build();
        try {
            server.start();
        } catch (IOException e) {
            throw new UncheckedIOException("node " + node.identity().nodeId() + " cannot listen on " + host + ":"
                    + port, e);
        }
        return new ShardServer(server, host);
    }

    public int port() {
        return port;
    }

    /** "host:port", as peers are given it. */
    public String address() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port();
    }

    /** Stops at once: open streams end with UNAVAILABLE on their peers, as when the process dies. */
    public void kill() {
        server.shutdownNow();
        await();
    }

    /** Stops taking calls, lets running ones finish for up to 5 s, then cuts the rest. */
    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            // closing is best effort: cut the rest and keep the interrupt for the caller
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    private void await() {
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            // stopping is best effort: keep the interrupt for the caller
            Thread.currentThread().interrupt();
        }
    }
}
