package dev.herd.kernels.cuda;

import dev.herd.kernels.NativeLibraries;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;

/**
 * Finds Herd's CUDA kernel library ({@value #LIBRARY_NAME}, built by {@code native-kernels/cuda/build.sh})
 * and the properties the build wrote beside it (which CUDA runtime it links, which GPU architectures it
 * holds): the file named by {@value #PATH_PROPERTY} when set, else the copy in this module's classes, used
 * in place in a build tree or extracted once from the jar into a per-user directory named after its
 * content hash, like the CPU kernels.
 */
final class CudaLibraryFile {
    static final String PATH_PROPERTY = "herd.cuda.library";
    static final String LIBRARY_NAME = "libherd_cuda.so";
    static final String PROPERTIES_NAME = "libherd_cuda.properties";

    private CudaLibraryFile() {
    }

    private static String resource(String name) {
        return "native/" + NativeLibraries.platform() + "/" + name;
    }

    /** The build's properties: from beside an explicitly named library, else from the class path. */
    static Optional<Properties> properties() {
        Properties p = new Properties();
        String override = System.getProperty(PATH_PROPERTY);
        try {
            if (override != null && !override.isBlank()) {
                Path file = Path.of(override).resolveSibling(PROPERTIES_NAME);
                if (!Files.isRegularFile(file)) {
                    return Optional.empty();
                }
                try (InputStream in = Files.newInputStream(file)) {
                    p.load(in);
                }
                return Optional.of(p);
            }
            if (NativeLibraries.platform() == null) {
                return Optional.empty();
            }
            try (InputStream in = CudaLibraryFile.class.getClassLoader().getResourceAsStream(resource(PROPERTIES_NAME))) {
                if (in == null) {
                    return Optional.empty();
                }
                p.load(in);
            }
            return Optional.of(p);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    static Path locate() throws CudaUnavailableException {
        try {
            return NativeLibraries.locate(PATH_PROPERTY, LIBRARY_NAME, "CUDA kernels",
                    "nvcc was not found when it was built, so Herd's CUDA kernels are not in this build");
        } catch (NativeLibraries.Missing e) {
            throw new CudaUnavailableException(e.getMessage(), e.getCause());
        }
    }
}
