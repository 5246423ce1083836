package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the build produced, checked without a GPU: the library exports every kernel entry point the Java
 * side binds, and says which CUDA runtime and GPU architectures it was built for; the constants the Java
 * side mirrors agree with the C header (checked on every machine, nvcc or not).
 */
class CudaKernelLibraryTest {
    private static final Path HEADER = Path.of("cuda/herd_cuda.h");

    private static Map<String, Integer> headerDefines() throws IOException {
        Map<String, Integer> out = new HashMap<>();
        Matcher m = Pattern.compile("(?m)^#define (HERD_CUDA_\\w+) \\(?(-?\\d+)\\)?\\s*$").matcher(Files.readString(HEADER));
        while (m.find()) {
            out.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        return out;
    }

    @Test
    void javaMirrorsOfTheHeaderAgree() throws IOException {
        Map<String, Integer> d = headerDefines();
        assertEquals(CudaKernels.MMA_MIN_ROWS, d.get("HERD_CUDA_MMA_MIN_ROWS"));
        assertEquals(CudaKernels.DECODE_MAX_ROWS, d.get("HERD_CUDA_DECODE_MAX_ROWS"));
        assertEquals(CudaKernels.MAX_HEAD_DIM, d.get("HERD_CUDA_MAX_HEAD_DIM"));
        assertEquals(CudaKernels.MAX_TOP_K, d.get("HERD_CUDA_MAX_TOP_K"));
        assertEquals(CudaKernels.EBADTYPE, d.get("HERD_CUDA_EBADTYPE"));
        assertEquals(CudaKernels.EINVAL, d.get("HERD_CUDA_EINVAL"));
        for (DType t : DType.values()) {
            if (CudaKernels.code(t) >= 0) {
                assertEquals(CudaKernels.code(t), d.get("HERD_CUDA_" + t.name()), t.toString());
            }
        }
    }

    @Test
    void theLibraryExportsEveryKernelAndDescribesItsBuild() {
        Path file;
        try {
            file = CudaLibraryFile.locate();
        } catch (CudaUnavailableException e) {
            Assumptions.abort("no CUDA kernel library in this build (nvcc absent when it was built?): " + e.getMessage());
            return;
        }
        Properties p = CudaLibraryFile.properties().orElseThrow(() -> new AssertionError("no "
                + CudaLibraryFile.PROPERTIES_NAME + " beside " + file));
        assertTrue(p.getProperty("cudart", "").startsWith("libcudart.so."), p.toString());
        List<String> archs = List.of(p.getProperty("archs", "").split(","));
        for (String sm : List.of("sm_80", "sm_86", "sm_89", "sm_90")) {
            // a build restricted on purpose (HERD_CUDA_ARCHS) lists fewer; the default build has all four
            if (System.getenv("HERD_CUDA_ARCHS") == null) {
                assertTrue(archs.contains(sm), "built for " + archs + ", missing " + sm);
            }
        }
        CudaKernels k;
        try {
            k = CudaKernels.load(); // loads the CUDA runtime first; no GPU needed
        } catch (CudaUnavailableException e) {
            Assumptions.abort("the CUDA runtime the kernels need cannot be loaded here: " + e.getMessage());
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup lib = SymbolLookup.libraryLookup(file, arena);
            for (String symbol : CudaKernels.SYMBOLS) {
                assertTrue(lib.find(symbol).isPresent(), file + " does not export " + symbol);
            }
        }
        String info = k.buildInfo();
        assertTrue(info.startsWith("herd-cuda ") && info.contains(p.getProperty("archs")), info);
    }
}
