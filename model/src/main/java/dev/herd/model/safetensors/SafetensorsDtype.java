package dev.herd.model.safetensors;

import dev.herd.kernels.DType;

import java.util.Optional;

/**
 * The element types a safetensors header may name, with their widths in bits and the Herd {@link DType}
 * each maps to (null for types Herd reads as names only).
 *
 * <p>Declared in the order of the reference implementation's {@code Dtype} enum (huggingface/safetensors),
 * which is its alignment rank: the reference writes tensors sorted by descending rank, then by name, so
 * that every tensor starts aligned to its element size. {@link SafetensorsWriter} sorts the same way and so
 * lays files out byte for byte as the reference does.
 */
public enum SafetensorsDtype {
    BOOL(8, null),
    F4(4, null),
    F6_E2M3(6, null),
    F6_E3M2(6, null),
    U8(8, null),
    I8(8, null),
    F8_E5M2(8, null),
    F8_E4M3(8, DType.F8_E4M3),
    F8_E8M0(8, null),
    F8_E4M3FNUZ(8, null),
    F8_E5M2FNUZ(8, null),
    I16(16, null),
    U16(16, null),
    F16(16, DType.F16),
    BF16(16, DType.BF16),
    I32(32, null),
    U32(32, null),
    F32(32, DType.F32),
    C64(64, null),
    F64(64, null),
    I64(64, null),
    U64(64, null);

    private final int bits;
    private final DType herdType;

    SafetensorsDtype(int bits, DType herdType) {
        this.bits = bits;
        this.herdType = herdType;
    }

    /** Width of one element in bits (sub-byte types pack elements without padding). */
    public int bits() {
        return bits;
    }

    /** The Herd type of the same encoding, or null when Herd does not compute with this type. */
    public DType herdType() {
        return herdType;
    }

    /**
     * Bytes taken by {@code elements} elements, or -1 when they do not fill whole bytes (sub-byte types) or the
     * count overflows.
     */
    public long byteSize(long elements) {
        long totalBits;
        try {
            totalBits = Math.multiplyExact(elements, (long) bits);
        } catch (ArithmeticException overflow) {
            return -1;
        }
        return totalBits % 8 == 0 ? totalBits / 8 : -1;
    }

    /** The type a header names, or empty for a name this implementation does not know. */
    public static Optional<SafetensorsDtype> parse(String name) {
        for (SafetensorsDtype t : values()) {
            if (t.name().equals(name)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    /** The safetensors type holding a Herd type; quantized ggml block types have none. */
    public static SafetensorsDtype of(DType type) {
        for (SafetensorsDtype t : values()) {
            if (t.herdType == type) {
                return t;
            }
        }
        throw new IllegalArgumentException("safetensors has no element type for " + type
                + " (ggml block types live in GGUF files)");
    }
}
