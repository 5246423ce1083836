package dev.herd.model.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Node.js side of the reference comparison: installs the pinned packages of src/test/node into
 * target/tokenizer-reference (once; a marker holds the hash of what was installed) and runs reference.js.
 */
final class NodeReference {
    static final Path SOURCE = Path.of("src", "test", "node");
    static final Path INSTALL = Path.of("target", "tokenizer-reference");
    private static final List<String> FILES = List.of("package.json", "package-lock.json", "reference.js");

    private NodeReference() {
    }

    /** Null when node and npm both run; otherwise why not. */
    static String whyUnavailable() {
        for (String tool : List.of("node", "npm")) {
            try {
                Process p = new ProcessBuilder(tool, "--version").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    return "'" + tool + " --version' failed";
                }
            } catch (IOException e) {
                return "'" + tool + "' is not on the PATH (" + e.getMessage() + ")";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted";
            }
        }
        return null;
    }

    /** Copies the script and package files, and runs {@code npm ci} unless the same files are installed. */
    static Path install() throws IOException, InterruptedException {
        Files.createDirectories(INSTALL);
        MessageDigest sha = sha256();
        for (String f : FILES) {
            Path from = SOURCE.resolve(f);
            sha.update(Files.readAllBytes(from));
            Files.copy(from, INSTALL.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        String hash = HexFormat.of().formatHex(sha.digest());
        Path marker = INSTALL.resolve("node_modules").resolve(".herd-installed");
        if (Files.isRegularFile(marker) && Files.readString(marker).equals(hash)) {
            return INSTALL;
        }
        run(List.of("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"), 600);
        Files.writeString(marker, hash);
        return INSTALL;
    }

    static void runScript(Path request, Path response) throws IOException, InterruptedException {
        run(List.of("node", "reference.js", request.toAbsolutePath().toString(), response.toAbsolutePath().toString()),
                300);
    }

    private static void run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
        Path log = Files.createTempFile("herd-node", ".log");
        try {
            Process p = new ProcessBuilder(command).directory(INSTALL.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ":\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
