package dev.herd.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code herd} command line: one entry point for every process Herd runs. */
@Command(name = "herd", mixinStandardHelpOptions = true, version = "herd 0.1.0",
        description = "Serve open-weight Mixture-of-Experts models on a cluster of commodity machines.",
        subcommands = {CommandLine.HelpCommand.class})
public final class Herd implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new Herd()).execute(args));
    }
}
