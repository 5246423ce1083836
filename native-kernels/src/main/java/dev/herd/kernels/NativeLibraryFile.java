package dev.herd.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
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
        Path dir = cacheRoot.resolve(sha256(bytes).substring(0, 16));
        Path target = dir.resolve(LIBRARY_NAME);
        try {
            // reuse a copy only when it is byte for byte this library (never trust a name in a shared temp dir)
            if (Files.isRegularFile(target) && Files.size(target) == bytes.length
                    && Arrays.equals(Files.readAllBytes(target), bytes)) {
                return target;
            }
            createPrivateDirectories(dir);
            // write aside and rename, so a concurrent loader sees either no file or the whole file
            Path tmp = Files.createTempFile(dir, "lib", ".tmp");
            try {
                Files.write(tmp, bytes);
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
            return target;
        } catch (IOException e) {
            throw new NativeUnavailableException("cannot extract the native kernels to " + target + ": " + e, e);
        }
    }

    /** The cache directories, readable and writable by this user only where the file system has owners. */
    private static void createPrivateDirectories(Path dir) throws IOException {
        if (!FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            Files.createDirectories(dir);
            return;
        }
        Path userDir = dir.getParent();
        if (!Files.isDirectory(userDir)) {
            try {
                Files.createDirectory(userDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (FileAlreadyExistsException raced) {
                // another process made it first: checked below like any existing one
            }
        }
        var me = userDir.getFileSystem().getUserPrincipalLookupService()
                .lookupPrincipalByName(System.getProperty("user.name"));
        if (!Files.getOwner(userDir).equals(me)) {
            throw new IOException(userDir + " belongs to " + Files.getOwner(userDir) + ", not " + me);
        }
        Files.createDirectories(dir);
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is a required JDK algorithm", e);
        }
    }
}
