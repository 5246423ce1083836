package dev.herd.kernels;

import java.io.IOException;
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

/**
 * Extraction of a native library packaged in a jar to a file the dynamic loader can open: shared by the CPU
 * kernels and the CUDA kernels.
 */
public final class NativeLibraries {
    private NativeLibraries() {
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
