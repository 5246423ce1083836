package dev.herd.cli;

import dev.herd.model.weights.ModelFormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code herd} command line: one entry point for every process Herd runs. */
@Command(name = "herd", mixinStandardHelpOptions = true, version = "herd 0.1.0",
        description = "Serve open-weight Mixture-of-Experts models on a cluster of commodity machines.",
        subcommands = {DemoCommand.class, GenerateCommand.class, BenchCommand.class, MakeTestModelCommand.class,
                ServeCommand.class, CoordinatorCommand.class, ShardCommand.class, ClusterGenerateCommand.class,
                ClusterBenchCommand.class,
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

    public static void main(String[] args) {
        // Hazelcast logs every connection at INFO; a command line shows warnings and errors only
        HAZELCAST_LOG.setLevel(java.util.logging.Level.WARNING);
        System.exit(commandLine().execute(args));
    }

    /** The command tree, with errors from bad input (models, arguments) reported as one clear line. */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Herd());
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof ModelFormatException
                    || e instanceof java.io.UncheckedIOException) {
                line.getErr().println("herd " + line.getCommandName() + ": " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cl;
    }
}
