package dev.herd.shard.weights;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.config.Architecture;
import dev.herd.model.gguf.GgufFile;
import dev.herd.model.gguf.GgufWriter;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.load.ModelFiles;
import dev.herd.proto.v1.DescribeModelRequest;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.ListTensorsReply;
import dev.herd.proto.v1.ListTensorsRequest;
import dev.herd.proto.v1.ModelDescription;
import dev.herd.proto.v1.ModelLayout;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.TensorChunk;
import dev.herd.proto.v1.TensorInfo;
import dev.herd.proto.v1.TensorRequest;
import dev.herd.proto.v1.WeightTransferGrpc;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The holder's side of the weight-transfer contract against the model file read independently: listing, the
 * exact stored bytes in chunks with the whole tensor's SHA-256 on the last one, slices of a stacked tensor as
 * their own byte ranges with their own SHA-256, resuming from an offset, the refusals, and flow control (a
 * receiver that stops reading stops the holder).
 */
class WeightTransferServiceTest {
    static final String A = "blk.0.attn_q.weight";
    static final String B = "token_embd.weight";

    @TempDir
    static Path dir;
    static Holders holders;
    static Holders.Holder holder;
    static ManagedChannel channel;
    static Hello hello;

    @BeforeAll
    static void start() {
        holders = new Holders();
        holder = holders.start("h1", Holders.gguf(dir, Architecture.MIXTRAL));
        channel = PeerChannels.open(holder.endpoint().address());
        hello = new NodeIdentity("f1", holder.digest()).hello(0, NodeRole.NODE_ROLE_SHARD);
    }

    @AfterAll
    static void stop() {
        channel.shutdownNow();
        holders.close();
    }

    static WeightTransferGrpc.WeightTransferBlockingStub stub() {
        return WeightTransferGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    static List<TensorChunk> fetch(long offset, String... names) {
        List<TensorChunk> out = new ArrayList<>();
        Iterator<TensorChunk> it = stub().fetchTensors(TensorRequest.newBuilder().setHello(hello)
                .addAllNames(List.of(names)).setOffset(offset).build());
        it.forEachRemaining(out::add);
        return out;
    }

    @Test
    void listsEveryTensorInFileOrderWithItsStoredSize() {
        ListTensorsReply all = stub().listTensors(ListTensorsRequest.newBuilder().setHello(hello).build());
        List<Tensor> file = holder.files().gguf().tensors();
        assertEquals(file.size(), all.getTensorsCount());
        for (int i = 0; i < file.size(); i++) {
            TensorInfo t = all.getTensors(i);
            assertEquals(file.get(i).name(), t.getName());
            assertEquals(file.get(i).dtype().name(), t.getDtype());
            assertEquals(file.get(i).data().byteSize(), t.getByteSize());
            assertArrayEquals(file.get(i).shape(), t.getShapeList().stream().mapToLong(Long::longValue).toArray());
        }
        ListTensorsReply some = stub().listTensors(ListTensorsRequest.newBuilder().setHello(hello)
                .addNames(B).addNames("no.such.tensor").addNames(A).build());
        assertEquals(List.of(B, A).stream().sorted((x, y) -> indexOf(file, x) - indexOf(file, y)).toList(),
                some.getTensorsList().stream().map(TensorInfo::getName).toList(), "the holder's order");
        assertEquals(List.of("no.such.tensor"), some.getMissingList(), "missing names reported, not dropped");
    }

    private static int indexOf(List<Tensor> file, String name) {
        for (int i = 0; i < file.size(); i++) {
            if (file.get(i).name().equals(name)) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void sendsTheStoredBytesInChunksWithTheChecksumOnEachTensorsLastChunk() {
        byte[] a = Holders.bytesOf(holder.files(), A);
        byte[] b = Holders.bytesOf(holder.files(), B);
        List<TensorChunk> chunks = fetch(0, A, B);
        assertEquals((a.length + Holders.CHUNK - 1) / Holders.CHUNK + (b.length + Holders.CHUNK - 1) / Holders.CHUNK,
                chunks.size());
        assertArrayEquals(a, join(chunks, A, 0, a.length));
        assertArrayEquals(b, join(chunks, B, 0, b.length));
        for (TensorChunk c : chunks) {
            assertTrue(c.getData().size() <= Holders.CHUNK);
            boolean last = c.getOffset() + c.getData().size() == c.getTotalSize();
            String expected = c.getName().equals(A) ? Holders.sha256(a) : Holders.sha256(b);
            assertEquals(last ? expected : "", c.getSha256(), "checksum only on the last chunk of " + c.getName());
        }
        // the hashes computed while streaming are listed from now on
        ListTensorsReply listed = stub().listTensors(ListTensorsRequest.newBuilder().setHello(hello).addNames(A).build());
        assertEquals(Holders.sha256(a), listed.getTensors(0).getSha256());
    }

    @Test
    void resumesTheFirstTensorFromAnOffsetAndStillHashesTheWholeTensor() {
        byte[] b = Holders.bytesOf(holder.files(), B);
        byte[] a = Holders.bytesOf(holder.files(), A);
        long offset = 2 * Holders.CHUNK + 17;
        List<TensorChunk> chunks = fetch(offset, B, A);
        assertEquals(offset, chunks.getFirst().getOffset());
        assertArrayEquals(Arrays.copyOfRange(b, (int) offset, b.length), join(chunks, B, offset, b.length));
        assertArrayEquals(a, join(chunks, A, 0, a.length), "later tensors come whole");
        TensorChunk lastOfB = chunks.stream().filter(c -> c.getName().equals(B) && !c.getSha256().isEmpty())
                .findFirst().orElseThrow();
        assertEquals(Holders.sha256(b), lastOfB.getSha256());
    }

    private static byte[] join(List<TensorChunk> chunks, String name, long from, int size) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long expect = from;
        for (TensorChunk c : chunks) {
            if (c.getName().equals(name)) {
                assertEquals(expect, c.getOffset(), "chunks in increasing offset order");
                assertEquals(size, c.getTotalSize());
                out.writeBytes(c.getData().toByteArray());
                expect += c.getData().size();
            }
        }
        return out.toByteArray();
    }

    static dev.herd.proto.v1.TensorPiece slice(String name, long slice) {
        return dev.herd.proto.v1.TensorPiece.newBuilder().setName(name).setSlice(slice).build();
    }

    static List<TensorChunk> fetchPieces(long offset, List<String> names, dev.herd.proto.v1.TensorPiece... pieces) {
        List<TensorChunk> out = new ArrayList<>();
        stub().fetchTensors(TensorRequest.newBuilder().setHello(hello).addAllNames(names)
                .addAllPieces(List.of(pieces)).setOffset(offset).build()).forEachRemaining(out::add);
        return out;
    }

    @Test
    void sendsASliceOfAStackedTensorAsItsOwnContiguousBytesWithItsOwnChecksum() {
        String up = "blk.1.ffn_up_exps.weight";
        Tensor stacked = holder.files().store().get(up);
        int experts = (int) stacked.shape()[0];
        byte[] all = Holders.bytesOf(holder.files(), up);
        int sliceBytes = all.length / experts;
        assertTrue(sliceBytes > 3 * Holders.CHUNK, "slices span several chunks");
        byte[] a = Holders.bytesOf(holder.files(), A);
        // the whole A first (resumed from an offset), then two slices of the stacked tensor, the later one first
        long offset = Holders.CHUNK + 5;
        List<TensorChunk> chunks = fetchPieces(offset, List.of(A), slice(up, experts - 1), slice(up, 2));
        assertArrayEquals(Arrays.copyOfRange(a, (int) offset, a.length), join(chunks, A, offset, a.length));
        for (int e : new int[] {experts - 1, 2}) {
            byte[] expected = Arrays.copyOfRange(all, e * sliceBytes, (e + 1) * sliceBytes);
            List<TensorChunk> ofSlice = chunks.stream().filter(c -> c.getName().equals(up) && c.getSlice() == e)
                    .toList();
            assertTrue(ofSlice.stream().allMatch(TensorChunk::hasSlice));
            assertArrayEquals(expected, join(ofSlice, up, 0, sliceBytes), "slice " + e);
            assertEquals(Holders.sha256(expected), ofSlice.getLast().getSha256(), "the slice's own SHA-256");
            assertTrue(ofSlice.subList(0, ofSlice.size() - 1).stream().allMatch(c -> c.getSha256().isEmpty()));
        }
        assertTrue(chunks.stream().filter(c -> c.getName().equals(A)).noneMatch(TensorChunk::hasSlice));
        List<Long> order = chunks.stream().map(c -> c.hasSlice() ? c.getSlice() : -1L).distinct().toList();
        assertEquals(List.of(-1L, (long) experts - 1, 2L), order, "names first, then the pieces in their order");

        // a slice resumed from an offset still carries the hash of the whole slice
        List<TensorChunk> resumed = fetchPieces(2 * Holders.CHUNK, List.of(), slice(up, 1));
        byte[] one = Arrays.copyOfRange(all, sliceBytes, 2 * sliceBytes);
        assertArrayEquals(Arrays.copyOfRange(one, 2 * Holders.CHUNK, sliceBytes),
                join(resumed, up, 2 * Holders.CHUNK, sliceBytes));
        assertEquals(Holders.sha256(one), resumed.getLast().getSha256());

        StatusRuntimeException past = assertThrows(StatusRuntimeException.class,
                () -> fetchPieces(0, List.of(), slice(up, experts)));
        assertEquals(Status.Code.OUT_OF_RANGE, past.getStatus().getCode());
        StatusRuntimeException flat = assertThrows(StatusRuntimeException.class,
                () -> fetchPieces(0, List.of(), slice("blk.0.attn_norm.weight", 0)));
        assertEquals(Status.Code.INVALID_ARGUMENT, flat.getStatus().getCode());
        assertTrue(flat.getMessage().contains("blk.0.attn_norm.weight"), flat.getMessage());
        StatusRuntimeException beyond = assertThrows(StatusRuntimeException.class,
                () -> fetchPieces(sliceBytes, List.of(), slice(up, 0)));
        assertEquals(Status.Code.OUT_OF_RANGE, beyond.getStatus().getCode());
    }

    @Test
    void refusesWhatTheContractRefuses() {
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> fetch(0, A, "no.such.tensor"));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
        assertTrue(unknown.getMessage().contains("no.such.tensor"), unknown.getMessage());

        long size = holder.files().store().get(A).data().byteSize();
        StatusRuntimeException past = assertThrows(StatusRuntimeException.class, () -> fetch(size, A));
        assertEquals(Status.Code.OUT_OF_RANGE, past.getStatus().getCode());

        Hello other = new NodeIdentity("f1", "ab".repeat(32)).hello(0, NodeRole.NODE_ROLE_SHARD);
        StatusRuntimeException model = assertThrows(StatusRuntimeException.class, () -> stub().fetchTensors(
                TensorRequest.newBuilder().setHello(other).addNames(A).build()).next());
        assertEquals(Status.Code.FAILED_PRECONDITION, model.getStatus().getCode());
        assertEquals(Status.Code.FAILED_PRECONDITION, assertThrows(StatusRuntimeException.class, () -> stub()
                .listTensors(ListTensorsRequest.newBuilder().setHello(other).build())).getStatus().getCode());
        assertEquals(Status.Code.FAILED_PRECONDITION, assertThrows(StatusRuntimeException.class, () -> stub()
                .describeModel(DescribeModelRequest.newBuilder().setHello(other).build())).getStatus().getCode());
    }

    @Test
    void describesAGgufModelByItsHeaderAndAHuggingFaceModelByItsConfig() throws Exception {
        ModelDescription d = stub().describeModel(DescribeModelRequest.newBuilder().setHello(hello).build());
        assertEquals(ModelLayout.MODEL_LAYOUT_GGUF, d.getLayout());
        byte[] file = Files.readAllBytes(holder.files().path());
        assertEquals("header.gguf", d.getFiles(0).getName());
        assertArrayEquals(Arrays.copyOf(file, (int) holder.files().gguf().dataOffset()), d.getFiles(0).getData().toByteArray());

        try (Holders hf = new Holders()) {
            Holders.Holder h = hf.start("h2", Holders.huggingFace(dir, Architecture.QWEN3_MOE, 1 << 20));
            ManagedChannel ch = PeerChannels.open(h.endpoint().address());
            try {
                ModelDescription hd = WeightTransferGrpc.newBlockingStub(ch).describeModel(DescribeModelRequest
                        .newBuilder().setHello(new NodeIdentity("f1", h.digest()).hello(0, NodeRole.NODE_ROLE_SHARD))
                        .build());
                assertEquals(ModelLayout.MODEL_LAYOUT_HUGGING_FACE, hd.getLayout());
                assertEquals("config.json", hd.getFiles(0).getName());
                assertArrayEquals(Files.readAllBytes(h.files().path().resolve("config.json")),
                        hd.getFiles(0).getData().toByteArray());
            } finally {
                ch.shutdownNow();
            }
        }
    }

    @Test
    void aReceiverThatStopsReadingStopsTheHolder(@TempDir Path tmp) throws Exception {
        // one 16 MiB tensor: far more than HTTP/2's windows and gRPC's buffers hold in flight
        Path big = tmp.resolve("big.gguf");
        int rows = 4096;
        int cols = 1024;
        try (GgufWriter w = GgufWriter.create(big)) {
            w.putString("general.architecture", "test");
            w.addTensor("big.weight", DType.F32, rows, cols);
            w.writeTensor("big.weight", (r, out) -> Arrays.fill(out, r));
        }
        assertTrue(Files.size(big) >= 16 << 20);
        // tensors only, no model config: the holder side never reads the config
        GgufFile gguf = GgufFile.open(big);
        ModelFiles files = new ModelFiles(big, CheckpointFormat.GGUF, null, gguf, gguf);
        HeldTensors held = HeldTensors.of(files);
        WeightCounters counters = new WeightCounters();
        NodeIdentity id = new NodeIdentity("big", "cd".repeat(32));
        io.grpc.Server server = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder
                .forAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
                .addService(new WeightTransferService(held, id, counters)).build().start();
        ManagedChannel ch = PeerChannels.open("127.0.0.1:" + server.getPort());
        try {
            CountDownLatch first = new CountDownLatch(1);
            WeightTransferGrpc.newStub(ch).fetchTensors(TensorRequest.newBuilder()
                    .setHello(new NodeIdentity("slow", id.modelDigest()).hello(0, NodeRole.NODE_ROLE_SHARD))
                    .addNames("big.weight").build(), new ClientResponseObserver<TensorRequest, TensorChunk>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<TensorRequest> s) {
                    s.disableAutoRequestWithInitial(1); // take one chunk, then never ask for more
                }

                @Override
                public void onNext(TensorChunk value) {
                    first.countDown();
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                }
            });
            assertTrue(first.await(10, TimeUnit.SECONDS));
            Thread.sleep(500);
            long served = counters.snapshot().servedBytes();
            long size = (long) rows * cols * 4;
            System.out.printf("FLOW CONTROL: a receiver that took one chunk of a %d-byte tensor held the holder at %d"
                    + " bytes sent%n", size, served);
            assertTrue(served < size / 2, "the holder sent " + served + " of " + size + " bytes to a receiver that"
                    + " stopped reading");
        } finally {
            ch.shutdownNow();
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            files.close();
        }
    }
}
