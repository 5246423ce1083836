package dev.herd.model.reference;

import dev.herd.kernels.DType;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Herd's {@link Dequant} against ggml's own {@code dequantize_row_*} from the prebuilt {@code libggml-base.so}
 * that node-llama-cpp ships, called through FFM on random blocks: every element must be bit-identical.
 */
class GgmlDequantAgreementTest {
    private static final int BLOCKS = 96;

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
    void dequantizationIsBitIdenticalToGgml(DType type) throws Throwable {
        Path install = LlamaCpp.install();
        Path lib;
        try (Stream<Path> files = Files.walk(install.resolve("node_modules/@node-llama-cpp"))) {
            lib = files.filter(p -> p.getFileName().toString().equals("libggml-base.so")
                    && p.toString().contains("linux-x64")).findFirst().orElse(null);
        }
        assumeTrue(lib != null, "no prebuilt libggml-base.so for linux-x64 in " + install);
        String symbol = switch (type) {
            case F16 -> "ggml_fp16_to_fp32_row";
            case BF16 -> "ggml_bf16_to_fp32_row";
            default -> "dequantize_row_" + type.name().toLowerCase().replace("_k", "_K");
        };
        int elements = BLOCKS * 256;
        byte[] bytes = randomBlocks(type, elements);
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup ggml = SymbolLookup.libraryLookup(lib, arena);
            MethodHandle f = Linker.nativeLinker().downcallHandle(ggml.find(symbol).orElseThrow(),
                    FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
            MemorySegment in = arena.allocate(bytes.length, 16);
            in.copyFrom(MemorySegment.ofArray(bytes));
            MemorySegment out = arena.allocate((long) elements * 4, 16);
            f.invokeExact(in, out, (long) elements);
            float[] ours = new float[elements];
            Dequant.row(new Tensor("random", type, new long[]{1, elements}, MemorySegment.ofArray(bytes)), 0, ours, 0);
            for (int i = 0; i < elements; i++) {
                float ref = out.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                assertEquals(Float.floatToRawIntBits(ref), Float.floatToRawIntBits(ours[i]),
                        type + " element " + i + ": ggml " + ref + ", Herd " + ours[i]);
            }
        }
    }

    /** Random bytes, with every f16 scale replaced by a finite one so the comparison sees numbers, not NaNs. */
    private static byte[] randomBlocks(DType type, int elements) {
        SplittableRandom r = new SplittableRandom(type.ordinal());
        byte[] b = new byte[Math.toIntExact(type.byteSize(elements))];
        r.nextBytes(b);
        int blocks = elements / type.blockSize();
        for (int i = 0; i < blocks; i++) {
            int base = i * type.blockBytes();
            switch (type) {
                case Q8_0, Q4_0 -> putF16(b, base, r);
                case Q4_K -> {
                    putF16(b, base, r);
                    putF16(b, base + 2, r);
                }
                case Q6_K -> putF16(b, base + 208, r);
                default -> { }
            }
        }
        if (type == DType.F16) {
            for (int i = 0; i < elements; i++) {
                putF16(b, 2 * i, r);
            }
        }
        return b;
    }

    private static void putF16(byte[] b, int at, SplittableRandom r) {
        short h = Float.floatToFloat16((float) r.nextDouble(-2, 2));
        b[at] = (byte) h;
        b[at + 1] = (byte) (h >> 8);
    }
}
