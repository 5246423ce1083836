package dev.herd.model.reference;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * llama.cpp as a reference engine: the {@code node-llama-cpp} npm package (prebuilt for linux-x64) installed
 * from {@code ops/llamacpp/package.json} into {@code target/}, driven by {@code ops/llamacpp/greedy.mjs}.
 * Tests that use it are skipped, with the reason, where node, npm or the package cannot be had.
 */
final class LlamaCpp {
    private static final Path OPS = locateOps();
    private static final Path INSTALL = Path.of("target", "llamacpp").toAbsolutePath();

    private LlamaCpp() {
    }

    private static Path locateOps() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("ops/llamacpp"))) {
            p = p.getParent();
        }
        return p == null ? null : p.resolve("ops/llamacpp");
    }

    /** Installs the package once (kept under target/), or skips the calling test with the reason. */
    static Path install() throws IOException, InterruptedException {
        assumeTrue(OPS != null, "ops/llamacpp not found above " + Path.of("").toAbsolutePath());
        assumeTrue(run(List.of("node", "--version"), Path.of("."), 30) == 0, "node is not installed");
        Files.createDirectories(INSTALL);
        Files.copy(OPS.resolve("package.json"), INSTALL.resolve("package.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(OPS.resolve("package-lock.json"), INSTALL.resolve("package-lock.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(OPS.resolve("greedy.mjs"), INSTALL.resolve("greedy.mjs"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        if (!Files.isDirectory(INSTALL.resolve("node_modules/node-llama-cpp"))) {
            // only the linux-x64 CPU binaries (named as a dependency): the CUDA and Vulkan builds are 600 MB more
            int rc = run(List.of("npm", "install", "--omit=optional", "--no-audit", "--no-fund", "--loglevel=error"),
                    INSTALL, 600);
            assumeTrue(rc == 0, "npm install of node-llama-cpp failed (exit " + rc + "); see " + INSTALL);
        }
        return INSTALL;
    }

    /** Runs greedy.mjs; returns its stdout. */
    static String greedy(Path gguf, int[] prompt, int steps) throws IOException, InterruptedException {
        return run(gguf, prompt, steps, null);
    }

    /** Runs greedy.mjs teacher-forced with {@code forced} as the continuation; returns its stdout. */
    static String forced(Path gguf, int[] prompt, int[] forced) throws IOException, InterruptedException {
        return run(gguf, prompt, forced.length, forced);
    }

    private static String join(int[] ids) {
        StringBuilder sb = new StringBuilder();
        for (int t : ids) {
            sb.append(sb.isEmpty() ? "" : ",").append(t);
        }
        return sb.toString();
    }

    private static String run(Path gguf, int[] prompt, int steps, int[] forced)
            throws IOException, InterruptedException {
        Path dir = install();
        Path out = Files.createTempFile("llamacpp", ".json");
        Path err = Files.createTempFile("llamacpp", ".err");
        List<String> cmd = new java.util.ArrayList<>(List.of("node", "greedy.mjs", gguf.toAbsolutePath().toString(),
                join(prompt), Integer.toString(steps), "1"));
        if (forced != null) {
            cmd.add(join(forced));
        }
        Process p = new ProcessBuilder(cmd)
                .directory(dir.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("llama.cpp did not finish in 300 s");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("llama.cpp failed (exit " + p.exitValue() + "): " + Files.readString(err));
        }
        return Files.readString(out);
    }

    private static int run(List<String> cmd, Path dir, int timeoutSeconds) throws IOException, InterruptedException {
        try {
            Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            // the program is not on the PATH: the caller skips with a reason
            return -1;
        }
    }
}
