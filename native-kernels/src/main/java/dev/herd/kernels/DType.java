package dev.herd.kernels;

/**
 * Element types of weight tensors, with their block layouts. A quantized type stores {@code blockSize}
 * consecutive elements of one row in {@code blockBytes} bytes; rows are always a whole number of blocks.
 *
 * <p>Block layouts (little-endian, as ggml defines them):
 * <ul>
 *   <li>{@link #Q8_0}: 32 elements in 34 bytes: f16 scale d, then 32 int8 q; x = d * q.</li>
 *   <li>{@link #Q4_0}: 32 elements in 18 bytes: f16 scale d, then 16 bytes; byte j holds element j in its
 *       low nibble and element j+16 in its high nibble; x = d * (nibble - 8).</li>
 *   <li>{@link #Q4_K}: 256 elements in 144 bytes: f16 d, f16 dmin, 12 bytes of packed 6-bit scales and
 *       mins for 8 sub-blocks of 32, then 128 bytes of nibbles; x = d * sc * q - dmin * m.</li>
 *   <li>{@link #Q6_K}: 256 elements in 210 bytes: 128 bytes low nibbles (ql), 64 bytes high 2-bit pairs (qh),
 *       16 int8 sub-block scales, f16 d; x = d * scale * (q - 32).</li>
 *   <li>{@link #F8_E4M3}: one byte per element (sign, 4 exponent bits with bias 7, 3 mantissa bits, no
 *       infinities, 0x7F/0xFF are NaN), multiplied by the tensor's scale (see {@link Tensor#scale()}).</li>
 * </ul>
 */
public enum DType {
    F32(1, 4, 0),
    F16(1, 2, 1),
    BF16(1, 2, 30),
    F8_E4M3(1, 1, -1),
    Q8_0(32, 34, 8),
    Q4_0(32, 18, 2),
    Q4_K(256, 144, 12),
    Q6_K(256, 210, 14);

    private final int blockSize;
    private final int blockBytes;
    private final int ggmlType;

    DType(int blockSize, int blockBytes, int ggmlType) {
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.ggmlType = ggmlType;
    }

    /** Elements per block (1 for plain floating-point types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** The {@code ggml_type} id used in GGUF files, or -1 where GGUF has none. */
    public int ggmlType() {
        return ggmlType;
    }

    public boolean quantized() {
        return blockSize > 1;
    }

    /** Bytes taken by {@code elements} elements; they must be a whole number of blocks. */
    public long byteSize(long elements) {
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(
                    this + " stores blocks of " + blockSize + " elements; " + elements + " is not a multiple");
        }
        return elements / blockSize * blockBytes;
    }

    /** The type with the given ggml id, or null when Herd does not read it. */
    public static DType fromGgml(int ggmlType) {
        for (DType t : values()) {
            if (t.ggmlType == ggmlType) {
                return t;
            }
        }
        return null;
    }
}
