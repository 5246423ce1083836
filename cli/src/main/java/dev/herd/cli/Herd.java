package dev.herd.cli;

import dev.herd.model.weights.ModelFormatException;
import dev.herd.shard.weights.WeightFetchException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

/** The {@code herd} command line: one entry point for every process Herd runs. */
@Command(name = "herd", mixinStandardHelpOptions = true, version = "herd 0.1.0",
        description = "Serve open-weight Mixture-of-Experts models on a cluster of commodity machines.",
        subcommands = {DemoCommand.class, GenerateCommand.class, BenchCommand.class, MakeTestModelCommand.class,
                ServeCommand.class, CoordinatorCommand.class, ShardCommand.class, PlanCommand.class,
                ClusterGenerateCommand.class, ClusterBenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Herd implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Held so the level set in main is not lost when the logger is collected. */
    private static final java.util.logging.Logger HAZELCAST_LOG = java.util.logging.Logger.getLogger("com.hazelcast");
    /**
     * A node started with --fetch-weights looks for holders as a Hazelcast client while the cluster may still be
     * coming up: each refused connection is a warning that says nothing the lookup's own error would not.
     */
    private static final java.util.logging.Logger CLIENT_CONNECTION_LOG =
            java.util.logging.Logger.getLogger("com.hazelcast.client.impl.connection");

    public static void main(String[] args) {
        // Hazelcast logs every connection at INFO; a command line shows warnings and errors only
        HAZELCAST_LOG.setLevel(java.util.logging.Level.WARNING);
        CLIENT_CONNECTION_LOG.setLevel(java.util.logging.Level.SEVERE);
        CommandLine cl;
        try {
            cl = commandLine(SettingsSources.of(System.getenv(), Path.of(System.getProperty("user.home"))));
        } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
            System.err.println("herd: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.exit(cl.execute(args));
    }

    /** The command tree with only flags and the options' own defaults (tests). */
    static CommandLine commandLine() {
        return commandLine(new SettingsSources(Map.of(), new Properties()));
    }

    /**
     * The command tree, with settings from {@code sources} where flags are absent, and errors from bad input
     * (models, arguments) reported as one clear line.
     */
    static CommandLine commandLine(SettingsSources sources) {
        CommandLine cl = new CommandLine(new Herd());
        cl.setDefaultValueProvider(sources);
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof ModelFormatException
                    || e instanceof java.io.UncheckedIOException || e instanceof WeightFetchException) {
                line.getErr().println("herd " + line.getCommandName() + ": " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cl;
    }
}
