package dev.herd.shard.weights;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.config.Architecture;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.proto.v1.TensorChunk;
import dev.herd.shard.ModelDigest;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerEndpoint;
import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import com.google.protobuf.ByteString;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Holders for tests: the real {@link WeightTransferService} over a model file, on a free loopback port, each with
 * its own mapping of the file; optionally behind an interceptor that misbehaves the way a broken or dying holder
 * would (corrupts a chunk's bytes, or dies after some chunks). The misbehaviour is outside the code under test.
 */
final class Holders implements AutoCloseable {
    /** Small chunks, so that the tiny tensors of generated models travel in several. */
    static final int CHUNK = 1000;

    private final List<Holder> started = new ArrayList<>();

    record Holder(String id, ModelFiles files, HeldTensors held, WeightCounters counters, Server server,
                  AtomicInteger chunksSent) {
        PeerEndpoint endpoint() {
            return new PeerEndpoint(id, "127.0.0.1:" + server.getPort());
        }

        String digest() {
            return ModelDigest.of(files.config(), files.store());
        }
    }

    /** What a holder does to its outgoing chunks. */
    enum Fault {
        NONE,
        /** Flips one byte of the data of its third chunk. */
        CORRUPT_THIRD_CHUNK,
        /** Sends three chunks, then stops serving at once (as a killed process would). */
        DIE_AFTER_THREE_CHUNKS
    }

    static Path gguf(Path dir, Architecture arch) {
        return new TestModelWriter(TestModelSpec.small(arch)).writeGguf(dir.resolve(arch + ".gguf"), DType.F32);
    }

    static Path huggingFace(Path dir, Architecture arch, long maxShardBytes) {
        return new TestModelWriter(TestModelSpec.small(arch)).writeHuggingFace(dir.resolve(arch + "-hf"), DType.BF16,
                maxShardBytes);
    }

    Holder start(String id, Path model, Fault fault) {
        ModelFiles files = ModelFiles.open(model);
        HeldTensors held = HeldTensors.of(files);
        WeightCounters counters = new WeightCounters();
        NodeIdentity identity = new NodeIdentity(id, ModelDigest.of(files.config(), files.store()));
        AtomicInteger sent = new AtomicInteger();
        Server[] self = new Server[1];
        var service = ServerInterceptors.intercept(new WeightTransferService(held, identity, counters, CHUNK),
                new Misbehaving(fault, sent, self));
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(service).build();
        try {
            server.start();
        } catch (IOException e) {
            files.close();
            throw new UncheckedIOException(e);
        }
        self[0] = server;
        Holder h = new Holder(id, files, held, counters, server, sent);
        started.add(h);
        return h;
    }

    Holder start(String id, Path model) {
        return start(id, model, Fault.NONE);
    }

    private record Misbehaving(Fault fault, AtomicInteger sent, Server[] server) implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                          ServerCallHandler<Q, R> next) {
            return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                private boolean dead;

                @Override
                public boolean isReady() {
                    return !dead && super.isReady();
                }

                @Override
                public void close(Status status, Metadata trailers) {
                    if (!dead) {
                        super.close(status, trailers);
                    }
                }

                @Override
                @SuppressWarnings("unchecked")
                public void sendMessage(R message) {
                    if (dead) {
                        return;
                    }
                    if (!(message instanceof TensorChunk c)) {
                        super.sendMessage(message);
                        return;
                    }
                    int n = sent.incrementAndGet();
                    if (fault == Fault.CORRUPT_THIRD_CHUNK && n == 3) {
                        byte[] data = c.getData().toByteArray();
                        data[data.length / 2] ^= 0x40;
                        super.sendMessage((R) c.toBuilder().setData(ByteString.copyFrom(data)).build());
                        return;
                    }
                    if (fault == Fault.DIE_AFTER_THREE_CHUNKS && n > 3) {
                        // the process is gone: every call ends at once, nothing more is sent
                        super.close(Status.UNAVAILABLE.withDescription("holder died"), new Metadata());
                        dead = true;
                        Thread.ofPlatform().start(() -> {
                            try {
                                Thread.sleep(300); // lets the three chunks and the status leave first
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                            server[0].shutdownNow();
                        });
                        return;
                    }
                    super.sendMessage(message);
                }
            }, headers);
        }
    }

    /** A tensor's bytes as the file stores them, read independently of the code under test. */
    static byte[] bytesOf(ModelFiles files, String name) {
        Tensor t = files.store().get(name);
        return t.data().toArray(ValueLayout.JAVA_BYTE);
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        for (Holder h : started) {
            h.server().shutdownNow();
        }
        for (Holder h : started) {
            try {
                h.server().awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            h.files().close();
        }
    }
}
