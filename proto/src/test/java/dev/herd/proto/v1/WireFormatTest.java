package dev.herd.proto.v1;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The bytes on the wire, checked against hand-encoded protobuf, for what must stay readable across
 * protocol versions (the hello) and for the activation payload conventions (row-major, little-endian).
 */
class WireFormatTest {

    private static final HexFormat HEX = HexFormat.of();

    /** gRPC's default maxInboundMessageSize, which the contracts' limits are sized against. */
    private static final int GRPC_DEFAULT_MAX_INBOUND = 4 * 1024 * 1024;

    @Test
    void helloEncodingIsPinned() throws InvalidProtocolBufferException {
        // Hello must read the same in every protocol version, or a peer could not even refuse a peer of
        // another version with a clear message. Hand-encoded: tag = field << 3 | wire type.
        byte[] wire = HEX.parseHex(
                "0801"          // 1 protocol_version, varint: 1
                + "12026162"    // 2 model_digest, length-delimited: "ab"
                + "18ac02"      // 3 plan_epoch, varint: 300 = 0b10_0101100 -> ac 02
                + "22026e37"    // 4 node_id: "n7"
                + "2802");      // 5 role, varint: NODE_ROLE_SHARD = 2
        Hello hello = Hello.parseFrom(wire);
        assertEquals(1, hello.getProtocolVersion());
        assertEquals("ab", hello.getModelDigest());
        assertEquals(300, hello.getPlanEpoch());
        assertEquals("n7", hello.getNodeId());
        assertEquals(NodeRole.NODE_ROLE_SHARD, hello.getRole());
        assertArrayEquals(wire, hello.toByteArray());
    }

    @Test
    void refusalEncodingIsPinned() throws InvalidProtocolBufferException {
        byte[] wire = HEX.parseHex(
                "1001"          // 2 reason: REFUSAL_REASON_PROTOCOL_VERSION_MISMATCH = 1 (accepted false: absent)
                + "1a0178"      // 3 message: "x"
                + "2002");      // 4 protocol_version: 2
        HelloReply reply = HelloReply.parseFrom(wire);
        assertFalse(reply.getAccepted());
        assertEquals(RefusalReason.REFUSAL_REASON_PROTOCOL_VERSION_MISMATCH, reply.getReason());
        assertEquals("x", reply.getMessage());
        assertEquals(2, reply.getProtocolVersion());
    }

    @Test
    void helloOfANewerPeerStillYieldsItsVersion() throws InvalidProtocolBufferException {
        // A later version may add fields; this version must still read the number it has to refuse.
        byte[] wire = HEX.parseHex(
                "0863"          // protocol_version 99
                + "a206027a7a"  // field 100, length-delimited "zz": unknown here
                + "2801");      // role: coordinator
        Hello hello = Hello.parseFrom(wire);
        assertEquals(99, hello.getProtocolVersion());
        assertEquals(NodeRole.NODE_ROLE_COORDINATOR, hello.getRole());
        assertTrue(hello.getUnknownFields().hasField(100));
        assertNotEquals(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE, hello.getProtocolVersion());
    }

    @Test
    void anEmptyReplyIsARefusalAndAnEmptyHelloHasNoVersion() throws InvalidProtocolBufferException {
        // Truncated or foreign input must never read as consent or as a version someone speaks.
        assertFalse(HelloReply.parseFrom(new byte[0]).getAccepted());
        assertEquals(0, Hello.parseFrom(new byte[0]).getProtocolVersion());
        assertEquals(0, ProtocolVersion.PROTOCOL_VERSION_UNSPECIFIED_VALUE);
        assertTrue(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE > 0);
    }

    @Test
    void f32FrameOfMoreThan16KiBRoundTripsRowMajorLittleEndian() throws InvalidProtocolBufferException {
        int rows = 8;
        int cols = 640; // 8 * 640 * 4 = 20 480 bytes
        ByteBuffer payload = ByteBuffer.allocate(rows * cols * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                payload.putFloat(element(r, c));
            }
        }
        ActivationFrame frame = ActivationFrame.newBuilder()
                .setPlanEpoch(3).setStepId(5).setLayer(12)
                .setDtype(DType.DTYPE_F32).setRows(rows).setCols(cols)
                .setData(ByteString.copyFrom(payload.array()))
                .build();
        for (int r = 0; r < rows; r++) {
            frame = frame.toBuilder().addSeqIds(100 + r).addPositions(r * 3).build();
        }
        byte[] wire = frame.toByteArray();
        assertTrue(wire.length > 16 * 1024, "frame is only " + wire.length + " bytes");

        ActivationFrame back = ActivationFrame.parseFrom(wire);
        assertEquals(frame, back);
        assertEquals(rows * cols * Float.BYTES, back.getData().size());
        ByteBuffer read = back.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < back.getRows(); r++) {
            for (int c = 0; c < back.getCols(); c++) {
                assertEquals(element(r, c), read.getFloat((r * back.getCols() + c) * Float.BYTES), "(" + r + "," + c + ")");
            }
        }
        // Little-endian, byte for byte: element (0, 1) starts at byte 4 with its lowest byte.
        int bits = Float.floatToRawIntBits(element(0, 1));
        assertEquals((byte) bits, back.getData().byteAt(4));
        assertEquals((byte) (bits >>> 24), back.getData().byteAt(7));
    }

    @Test
    void bf16PayloadBytesAreCarriedVerbatim() throws InvalidProtocolBufferException {
        // bf16 = upper half of the f32 bits, little-endian: 1.0 = 0x3f80, -2.0 = 0xc000, 0.5 = 0x3f00.
        byte[] bytes = HEX.parseHex("803f" + "00c0" + "003f");
        ActivationFrame frame = ActivationFrame.newBuilder()
                .setDtype(DType.DTYPE_BF16).setRows(1).setCols(3).setData(ByteString.copyFrom(bytes)).build();
        ActivationFrame back = ActivationFrame.parseFrom(frame.toByteArray());
        assertEquals(DType.DTYPE_BF16, back.getDtype());
        float[] expected = {1.0f, -2.0f, 0.5f};
        for (int i = 0; i < 3; i++) {
            int lo = back.getData().byteAt(2 * i) & 0xff;
            int hi = back.getData().byteAt(2 * i + 1) & 0xff;
            assertEquals(expected[i], Float.intBitsToFloat((hi << 8 | lo) << 16));
        }
    }

    @Test
    void limitsFitRealFrames() {
        // The largest frame the limit promises room for: 1000 rows of a 16384-wide hidden state in F32.
        int rows = 1000;
        int cols = 16384;
        ActivationFrame.Builder big = ActivationFrame.newBuilder()
                .setPlanEpoch(Long.MAX_VALUE).setStepId(Long.MAX_VALUE).setLayer(125)
                .setDtype(DType.DTYPE_F32).setRows(rows).setCols(cols)
                .setData(UnsafeByteOperations.unsafeWrap(new byte[rows * cols * Float.BYTES]));
        for (int r = 0; r < rows; r++) {
            big.addSeqIds(Long.MAX_VALUE - r).addPositions(Integer.MAX_VALUE);
        }
        long size = big.build().getSerializedSize();
        assertTrue(size <= WireLimit.WIRE_LIMIT_MAX_MESSAGE_BYTES_VALUE, size + " bytes");
        // And gRPC's default really is too small for such frames, which is why both ends must raise it.
        assertTrue(size > GRPC_DEFAULT_MAX_INBOUND);

        // A full weight chunk passes even a channel left at gRPC's default limit.
        TensorChunk chunk = TensorChunk.newBuilder()
                .setName("x".repeat(200)).setOffset(Long.MAX_VALUE).setTotalSize(Long.MAX_VALUE)
                .setData(UnsafeByteOperations.unsafeWrap(new byte[WireLimit.WIRE_LIMIT_TENSOR_CHUNK_BYTES_VALUE]))
                .setSha256("0".repeat(64))
                .build();
        assertTrue(chunk.getSerializedSize() < GRPC_DEFAULT_MAX_INBOUND);
    }

    /** A value per element that differs between neighbours and rows and is exact in F32. */
    private static float element(int row, int col) {
        return (row * 1000 + col) / 1024f - (col % 2 == 0 ? 0 : 2);
    }
}
