package dev.herd.cli;

import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * Where an option not given on the command line gets its value: the environment first
 * ({@code HERD_MAX_BATCH_TOKENS} for {@code --max-batch-tokens}), then the config file ({@code serve.max-batch-tokens}
 * for that command, or plain {@code max-batch-tokens} for every command that has the option), then the option's
 * own default. Flags beat both, so the order is flags, environment, config file.
 */
final class SettingsSources implements CommandLine.IDefaultValueProvider {
    /** The environment variable naming the config file. */
    static final String CONFIG_VARIABLE = "HERD_CONFIG";

    private final Map<String, String> env;
    private final Properties config;

    SettingsSources(Map<String, String> env, Properties config) {
        this.env = Map.copyOf(env);
        this.config = config;
    }

    /**
     * The sources for this process: {@code env}, and the properties file named by {@code HERD_CONFIG}, else
     * {@code ~/.config/herd/herd.properties} when it exists.
     *
     * @throws IllegalArgumentException when HERD_CONFIG names a file that cannot be read
     */
    static SettingsSources of(Map<String, String> env, Path home) {
        Properties p = new Properties();
        String named = env.get(CONFIG_VARIABLE);
        Path file = named != null && !named.isBlank() ? Path.of(named) : home.resolve(".config/herd/herd.properties");
        if (named != null && !named.isBlank() && !Files.isRegularFile(file)) {
            throw new IllegalArgumentException(CONFIG_VARIABLE + " names " + file + ", which is not a readable file");
        }
        if (Files.isRegularFile(file)) {
            try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                p.load(in);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the config file " + file + ": " + e.getMessage(), e);
            }
        }
        return new SettingsSources(env, p);
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option) || option.usageHelp() || option.versionHelp()) {
            return null;
        }
        String name = option.longestName();
        if (!name.startsWith("--")) {
            return null;
        }
        String key = name.substring(2);
        String fromEnv = env.get("HERD_" + key.toUpperCase(Locale.ROOT).replace('-', '_'));
        if (fromEnv != null) {
            return fromEnv;
        }
        String command = option.command() == null ? null : option.command().name();
        String fromFile = command == null ? null : config.getProperty(command + "." + key);
        return fromFile != null ? fromFile : config.getProperty(key);
    }
}
