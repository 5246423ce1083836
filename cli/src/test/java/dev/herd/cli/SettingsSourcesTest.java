package dev.herd.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Settings come from flags, then the environment, then the config file, then the option's default. */
class SettingsSourcesTest {
    @TempDir
    Path home;

    private ServeCommand serve(SettingsSources sources, String... flags) {
        CommandLine cl = Herd.commandLine(sources);
        String[] args = new String[flags.length + 3];
        args[0] = "serve";
        args[1] = "--model";
        args[2] = "m.gguf";
        System.arraycopy(flags, 0, args, 3, flags.length);
        cl.parseArgs(args);
        return cl.getSubcommands().get("serve").getCommand();
    }

    @Test
    void flagsBeatTheEnvironmentWhichBeatsTheConfigFileWhichBeatsTheDefault() throws IOException {
        Path file = home.resolve(".config/herd/herd.properties");
        Files.createDirectories(file.getParent());
        Files.writeString(file, """
                # every command with the option
                max-batch-tokens = 128
                block-size = 32
                # only for serve
                serve.max-queue = 7
                coordinator.max-queue = 9
                port = 8100
                """);
        SettingsSources sources = SettingsSources.of(Map.of("HERD_PORT", "8200", "HERD_API_KEY", "sk-env"), home);

        ServeCommand s = serve(sources);
        assertEquals(8200, s.serving.port, "the environment beats the file");
        assertEquals(128, s.serving.maxBatchTokens, "the file beats the default");
        assertEquals(32, s.serving.blockSize);
        assertEquals(7, s.serving.maxQueue, "a command's own key");
        assertEquals(List.of("sk-env"), s.serving.apiKeys, "HERD_API_KEY keeps the key out of the process list");
        assertEquals(4194304L, s.serving.maxBodyBytes, "neither: the option's default");

        ServeCommand flagged = serve(sources, "--port", "8300", "--max-batch-tokens", "64");
        assertEquals(8300, flagged.serving.port, "a flag beats the environment");
        assertEquals(64, flagged.serving.maxBatchTokens, "a flag beats the file");
    }

    @Test
    void aRequiredOptionMayComeFromTheEnvironment() {
        CommandLine cl = Herd.commandLine(SettingsSources.of(Map.of("HERD_MODEL", "/models/m.gguf"), home));
        cl.parseArgs("serve");
        ServeCommand s = cl.getSubcommands().get("serve").getCommand();
        assertEquals(Path.of("/models/m.gguf"), s.model);
    }

    @Test
    void aShardNodeCanTakeEverySettingFromTheConfigFile() throws IOException {
        Path file = home.resolve("herd.properties");
        Files.writeString(file, "shard.model = /models/m.gguf\nshard.node-id = n7\nseeds = 10.0.0.1:5701\n");
        CommandLine cl = Herd.commandLine(SettingsSources.of(Map.of("HERD_CONFIG", file.toString()), home));
        cl.parseArgs("shard");
        ShardCommand s = cl.getSubcommands().get("shard").getCommand();
        assertEquals("n7", s.nodeId);
        assertEquals(List.of("10.0.0.1:5701"), s.cluster.join.seeds);
    }

    @Test
    void withoutAFileOrVariablesTheDefaultsHold() {
        ServeCommand s = serve(SettingsSources.of(Map.of(), home));
        assertEquals(8000, s.serving.port);
        assertEquals(512, s.serving.maxBatchTokens);
        assertTrue(s.serving.apiKeys.isEmpty());
    }

    @Test
    void aConfigFileThatIsNotThereIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SettingsSources.of(Map.of("HERD_CONFIG", home.resolve("nope.properties").toString()), home));
        assertTrue(e.getMessage().contains("HERD_CONFIG names") && e.getMessage().contains("nope.properties"),
                e.getMessage());
    }
}
