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
 * Where a native library built into this module is (the CPU kernels and the CUDA kernels find theirs the same
 * way), and its extraction from a jar to a file the dynamic loader can open.
 */
public final class NativeLibraries {
    private NativeLibraries() {
    }

    /** Why a library cannot be found, in words for the user; each library turns it into its own exception. */
    public static final class Missing extends Exception {
        Missing(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** {@code linux-x86_64}-style name of this platform, or null where no library is ever built. */
    public static String platform() {
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

    /**
     * The library file: the one the system property {@code pathProperty} names when set; otherwise
     * {@code native/<platform>/<libraryName>} from the class path, used in place when the classes are a directory
     * (a build tree), or extracted once into a per-user cache directory named after its content hash (so
     * different builds never overwrite each other, and a library another process is using is never rewritten).
     *
     * @param kind     what the library holds, for messages ("native kernels")
     * @param notBuilt why the resource can be missing from a build, for the message
     */
    public static Path locate(String pathProperty, String libraryName, String kind, String notBuilt) throws Missing {
        String override = System.getProperty(pathProperty);
        if (override != null && !override.isBlank()) {
            Path p = Path.of(override);
            if (!Files.isRegularFile(p)) {
                throw new Missing(pathProperty + " names " + p + ", which is not a file", null);
            }
            return p;
        }
        String platform = platform();
        if (platform == null) {
            throw new Missing("no " + kind + " for " + System.getProperty("os.name") + " "
                    + System.getProperty("os.arch") + " (they are built for Linux only)", null);
        }
        String resource = "native/" + platform + "/" + libraryName;
        URL url = NativeLibraries.class.getClassLoader().getResource(resource);
        if (url == null) {
            throw new Missing("no " + resource + " in herd-native-kernels: " + notBuilt, null);
        }
        if (url.getProtocol().equals("file")) {
            try {
                return Path.of(url.toURI()); // classes on disk (a build tree): load in place
            } catch (URISyntaxException | IllegalArgumentException e) {
                // an unusual file URL: fall back to extracting a copy
            }
        }
        byte[] bytes;
        try (InputStream in = url.openStream()) {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new Missing("cannot read " + resource + ": " + e.getMessage(), e);
        }
        Path cache = Path.of(System.getProperty("java.io.tmpdir"), "herd-native-" + System.getProperty("user.name", "user"));
        try {
            return extract(bytes, cache, libraryName);
        } catch (IOException e) {
            throw new Missing("cannot extract the " + kind + " to " + cache + ": " + e, e);
        }
    }

    /**
     * Writes {@code bytes} to {@code cacheRoot/<content hash>/<libraryName>} unless that file already holds exactly
     * these bytes, and returns it. The per-user directory is private to its owner and refused when someone else owns
     * it.
     */
    public static Path extract(byte[] bytes, Path cacheRoot, String libraryName) throws IOException {
        Path dir = cacheRoot.resolve(sha256(bytes).substring(0, 16));
        Path target = dir.resolve(libraryName);
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
