package dev.herd.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Finds the kernel library on disk: the file named by the system property {@value #PATH_PROPERTY}
 * when set; otherwise the one built into this module's classes, used in place when they are a
 * directory, or extracted from the jar once into a per-user cache directory named after its content
 * hash (so different builds never overwrite each other, and a library another process is using is
 * never rewritten).
 */
final class NativeLibraryFile {
    static final String PATH_PROPERTY = "herd.native.library";
    static final String LIBRARY_NAME = "libherd_kernels.so";

    private NativeLibraryFile() {
    }

    /** {@code linux-x86_64}-style name of this platform, or null where no library is ever built. */
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

    static Path locate() throws NativeUnavailableException {
        String override = System.getProperty(PATH_PROPERTY);
        if (override != null && !override.isBlank()) {
            Path p = Path.of(override);
            if (!Files.isRegularFile(p)) {
                throw new NativeUnavailableException(PATH_PROPERTY + " names " + p + ", which is not a file");
            }
            return p;
        }
        String platform = platform();
        if (platform == null) {
            throw new NativeUnavailableException("no native kernels for " + System.getProperty("os.name") + " "
                    + System.getProperty("os.arch") + " (they are built for Linux only)");
        }
        String resource = "native/" + platform + "/" + LIBRARY_NAME;
        URL url = NativeLibraryFile.class.getClassLoader().getResource(resource);
        if (url != null && url.getProtocol().equals("file")) {
            try {
                return Path.of(url.toURI()); // classes on disk (a build tree): load in place
            } catch (URISyntaxException | IllegalArgumentException e) {
                // an unusual file URL: fall back to extracting a copy
            }
        }
        byte[] bytes;
        try (InputStream in = NativeLibraryFile.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new NativeUnavailableException("no " + resource + " in herd-native-kernels: gcc was missing when"
                        + " it was built, or " + platform + " is not a built platform");
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new NativeUnavailableException("cannot read " + resource + ": " + e.getMessage(), e);
        }
        return extract(bytes, Path.of(System.getProperty("java.io.tmpdir"),
                "herd-native-" + System.getProperty("user.name", "user")));
    }

    /** Writes {@code bytes} to {@code cacheRoot/<content hash>/libherd_kernels.so} unless already there. */
    static Path extract(byte[] bytes, Path cacheRoot) throws NativeUnavailableException {
        try {
            return NativeLibraries.extract(bytes, cacheRoot, LIBRARY_NAME);
        } catch (IOException e) {
            throw new NativeUnavailableException("cannot extract the native kernels to " + cacheRoot + ": " + e, e);
        }
    }
}
