package dev.herd.cli;

import dev.herd.model.config.Architecture;

/** Architecture names as users type them on the command line. */
final class Architectures {
    private Architectures() {
    }

    static Architecture parse(String name) {
        for (Architecture a : Architecture.values()) {
            if (a.hfModelType().equalsIgnoreCase(name) || a.name().equalsIgnoreCase(name)
                    || a.name().replace("_", "").equalsIgnoreCase(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown architecture '" + name + "'; supported: "
                + Architecture.supportedList());
    }
}
