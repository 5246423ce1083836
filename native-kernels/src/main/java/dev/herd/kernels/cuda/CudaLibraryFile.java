package dev.herd.kernels.cuda;

import dev.herd.kernels.NativeLibraries;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
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

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux")) {
            return null;
        }
        return switch (arch) {
            case "amd64", "x86_64" -> "linux-x86_64";
            case "aarch64", "arm64" -> "linux-aarch64";
            default -> "linux-" + arch;
        };
    }

    private static String resource(String name) {
        return "native/" + platform() + "/" + name;
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
            if (platform() == null) {
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
        String override = System.getProperty(PATH_PROPERTY);
        if (override != null && !override.isBlank()) {
            Path p = Path.of(override);
            if (!Files.isRegularFile(p)) {
                throw new CudaUnavailableException(PATH_PROPERTY + " names " + p + ", which is not a file");
            }
            return p;
        }
        String platform = platform();
        if (platform == null) {
            throw new CudaUnavailableException("no CUDA kernels for " + System.getProperty("os.name")
                    + " (they are built for Linux only)");
        }
        String resource = resource(LIBRARY_NAME);
        URL url = CudaLibraryFile.class.getClassLoader().getResource(resource);
        if (url == null) {
            throw new CudaUnavailableException("Herd's CUDA kernels are not in this build (no " + resource
                    + "): nvcc was not found when herd-native-kernels was built");
        }
        if (url.getProtocol().equals("file")) {
            try {
                return Path.of(url.toURI());
            } catch (URISyntaxException | IllegalArgumentException e) {
                // an unusual file URL: extract a copy instead
            }
        }
        byte[] bytes;
        try (InputStream in = url.openStream()) {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new CudaUnavailableException("cannot read " + resource + ": " + e.getMessage(), e);
        }
        return extract(bytes, Path.of(System.getProperty("java.io.tmpdir"),
                "herd-native-" + System.getProperty("user.name", "user")));
    }

    /** {@code cacheRoot/<content hash>/libherd_cuda.so}, written aside and renamed, reused only when identical. */
    static Path extract(byte[] bytes, Path cacheRoot) throws CudaUnavailableException {
        try {
            return NativeLibraries.extract(bytes, cacheRoot, LIBRARY_NAME);
        } catch (IOException e) {
            throw new CudaUnavailableException("cannot extract the CUDA kernels to " + cacheRoot + ": " + e, e);
        }
    }
}
