package dev.herd.model.safetensors;

import dev.herd.kernels.DType;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Finds the scale stored beside an FP8 (E4M3) weight and turns it into the f32 block grid {@link Tensor}
 * expects: shape {@code (ceil(rows/br), ceil(cols/bc))}, where rows is the product of all dimensions but the
 * last.
 *
 * <p>Conventions of real checkpoints (read from huggingface/transformers, not guessed):
 * <ul>
 *   <li>{@code <name>_scale_inv} (DeepSeek V3, HF "fine-grained FP8"): f32 per 128x128 block, shape
 *       {@code (ceil(rows/128), ceil(cols/128))}. Despite the name it is <em>multiplied</em>:
 *       {@code w = fp8 * scale_inv}. transformers' {@code Fp8Quantize} computes {@code s = 448 / amax},
 *       stores {@code fp8(w * s)} and {@code 1 / s} as {@code weight_scale_inv}; its {@code Fp8Dequantize}
 *       and the block FP8 matmul multiply by it (as DeepSeek V3's {@code weight_dequant} does). Stacked expert
 *       tensors keep their leading dimension: {@code gate_up_proj_scales_inv} of shape
 *       {@code (experts, ceil(rows/128), ceil(cols/128))}.</li>
 *   <li>{@code <name>_scale} (FBGEMM row-wise FP8 as in Llama 4's FP8 release, compressed-tensors): per output
 *       row, shape {@code (rows, 1)}, or one per tensor (shape {@code []} or {@code [1]}); also multiplied:
 *       {@code w = fp8 * scale}.</li>
 * </ul>
 *
 * <p>{@link Dequant} infers the block size as {@code ceil(rows / scaleRows)}, which is right only when the
 * dimension is a whole number of blocks. DeepSeek V3 has weights that are not (e.g. {@code kv_a_proj_with_mqa}:
 * 576 rows, 5 scale rows of 128; the inference would give 116). The block size is therefore inferred here
 * as the smallest power of two that yields the stored grid (128 in that example; any exact division too),
 * and where the stored grid would be misread the scales are expanded onto a finer grid whose blocks divide
 * the dimension exactly ({@code gcd(block, dim)}; 64 rows in that example) in an off-heap segment of the
 * store's arena. Per-row and per-tensor scales never need that.
 *
 * <p>A scale's shape is read as a grid over (rows, cols) of the weight as stored; a checkpoint that keeps a
 * weight transposed ({@code (in, out)}) with scales per output cannot be told apart by shape and is not
 * supported here.
 */
final class Fp8Scales {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Scale names tried for FP8 weight {@code name}, in order. */
    static List<String> candidates(String name) {
        return List.of(name + "_scale_inv", name + "_scale", name + "_scales_inv");
    }

    /** A tensor's header entry with its bytes and the file they come from. */
    record Raw(TensorEntry entry, MemorySegment data, String source) {
    }

    /** Looks up a raw tensor by name, possibly in another file of the same model. */
    @FunctionalInterface
    interface Lookup {
        Optional<Raw> raw(String name);
    }

    private Fp8Scales() {
    }

    /** The f32 scale grid for FP8 weight {@code weight}, allocating in {@code arena} only when it must convert. */
    static Tensor scaleFor(Raw weight, Lookup lookup, Arena arena) {
        String name = weight.entry().name();
        Raw scale = null;
        for (String candidate : candidates(name)) {
            Optional<Raw> found = lookup.raw(candidate);
            if (found.isPresent()) {
                scale = found.get();
                break;
            }
        }
        if (scale == null) {
            throw new ModelFormatException(weight.source() + ": tensor '" + name + "' is F8_E4M3 but has no scale: "
                    + "none of " + candidates(name) + " exists");
        }
        return grid(weight, scale, arena);
    }

    private static Tensor grid(Raw weight, Raw scale, Arena arena) {
        String where = scale.source() + ": scale '" + scale.entry().name() + "' of F8_E4M3 tensor '"
                + weight.entry().name() + "'";
        SafetensorsDtype sd = scale.entry().knownDtype().orElse(null);
        if (sd != SafetensorsDtype.F32 && sd != SafetensorsDtype.BF16 && sd != SafetensorsDtype.F16) {
            throw new ModelFormatException(where + ": dtype " + scale.entry().dtype() + " (expected F32, BF16 or F16)");
        }
        long[] w = weight.entry().shape();
        long[] s = scale.entry().shape();
        if (w.length == 0) {
            throw new ModelFormatException(weight.source() + ": tensor '" + weight.entry().name()
                    + "': a scalar F8_E4M3 tensor is not supported");
        }
        if (scale.entry().elementCount() == 1) { // one scale for the whole tensor
            return sd == SafetensorsDtype.F32
                    ? new Tensor(scale.entry().name(), DType.F32, new long[] {1, 1}, scale.data())
                    : materialize(scale, sd, new long[] {0}, new long[] {0}, 1, arena);
        }
        // the weight seen as `experts` stacked matrices of (rows x cols); the scale as experts x (sRows x sCols)
        long cols = w[w.length - 1];
        long rows = w.length >= 2 ? w[w.length - 2] : 1;
        long experts = 1;
        for (int i = 0; i < w.length - 2; i++) {
            experts *= w[i];
        }
        long sRows;
        long sCols;
        if (s.length == w.length && w.length >= 2 && Arrays.equals(s, 0, s.length - 2, w, 0, w.length - 2)) {
            sRows = s[s.length - 2];
            sCols = s[s.length - 1];
        } else if (s.length == 1 && w.length == 1) {
            sRows = 1;
            sCols = s[0];
        } else if (s.length == 2 && w.length > 2) { // a 2-D grid over the weight flattened to 2-D
            rows *= experts;
            experts = 1;
            sRows = s[0];
            sCols = s[1];
        } else if (s.length == 1 && s[0] == experts * rows) { // one per row, stored without the trailing 1
            rows *= experts;
            experts = 1;
            sRows = rows;
            sCols = 1;
        } else {
            throw new ModelFormatException(where + ": shape " + Arrays.toString(s)
                    + " is no block grid of the weight's shape " + Arrays.toString(w));
        }
        long br = blockSize(rows, sRows);
        long bc = blockSize(cols, sCols);
        if (br < 0 || bc < 0) {
            throw new ModelFormatException(where + ": shape " + Arrays.toString(s) + " does not divide the weight's "
                    + Arrays.toString(w) + " into equal blocks");
        }
        boolean rowsAsStored = ceilDiv(experts * rows, experts * sRows) == br && (experts == 1 || rows % br == 0);
        boolean colsAsStored = ceilDiv(cols, sCols) == bc;
        long[] rowSrc = rowsAsStored ? iota(experts * sRows) : regrid(experts, rows, br, sRows);
        long[] colSrc = colsAsStored ? iota(sCols) : regrid(1, cols, bc, sCols);
        if (rowsAsStored && colsAsStored && sd == SafetensorsDtype.F32) {
            // the stored grid is already what Dequant reads: no copy, a view of the mapped bytes
            return new Tensor(scale.entry().name(), DType.F32, new long[] {rowSrc.length, colSrc.length},
                    scale.data());
        }
        return materialize(scale, sd, rowSrc, colSrc, sCols, arena);
    }

    /**
     * The block length along a dimension of {@code n} elements cut into {@code s} blocks: the smallest power of
     * two that does (checkpoints use 128), else {@code ceil(n / s)}; capped at {@code n} (one block spanning the
     * dimension); -1 when no block length gives exactly {@code s} blocks.
     */
    static long blockSize(long n, long s) {
        if (s < 1 || s > n) {
            return -1;
        }
        long min = ceilDiv(n, s);
        long pow2 = Long.bitCount(min) == 1 ? min : Long.highestOneBit(min) << 1;
        if (ceilDiv(n, pow2) == s) {
            return Math.min(pow2, n);
        }
        return ceilDiv(n, min) == s ? min : -1;
    }

    /**
     * For each group of {@code g = gcd(block, n)} consecutive rows (or columns) of every expert, the stored
     * scale row it falls in: a grid Dequant's {@code ceil(n / count)} reads exactly, since g divides n.
     */
    private static long[] regrid(long experts, long n, long block, long stored) {
        long g = gcd(block, n);
        long perExpert = n / g;
        long[] src = new long[Math.toIntExact(experts * perExpert)];
        for (int i = 0; i < src.length; i++) {
            long e = i / perExpert;
            long first = (i % perExpert) * g;
            src[i] = e * stored + first / block;
        }
        return src;
    }

    private static Tensor materialize(Raw scale, SafetensorsDtype sd, long[] rowSrc, long[] colSrc, long storedCols,
                                      Arena arena) {
        MemorySegment out = arena.allocate((long) rowSrc.length * colSrc.length * Float.BYTES, Float.BYTES);
        MemorySegment in = scale.data();
        long k = 0;
        for (long r : rowSrc) {
            for (long c : colSrc) {
                long index = r * storedCols + c;
                float v = switch (sd) {
                    case F32 -> in.get(F32, index * 4);
                    case BF16 -> Dequant.bf16(in.get(I16, index * 2));
                    case F16 -> Dequant.f16(in.get(I16, index * 2));
                    default -> throw new IllegalStateException(sd.name());
                };
                out.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), k++, v);
            }
        }
        return new Tensor(scale.entry().name(), DType.F32, new long[] {rowSrc.length, colSrc.length}, out);
    }

    private static long[] iota(long n) {
        long[] a = new long[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) {
            a[i] = i;
        }
        return a;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }
}
