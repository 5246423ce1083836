package dev.herd.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code herd shard} takes its weights from exactly one place: the model files, or peers that have them. */
class ShardCommandTest {

    private static String[] run(String... args) {
        StringWriter err = new StringWriter();
        int rc = Herd.commandLine().setErr(new PrintWriter(err)).execute(args);
        return new String[]{Integer.toString(rc), err.toString()};
    }

    @Test
    void needsEitherTheModelOrFetchWeightsAndNotBoth() {
        String[] neither = run("shard", "--node-id", "n1");
        assertNotEquals("0", neither[0]);
        assertTrue(neither[1].contains("--model") && neither[1].contains("--fetch-weights"), neither[1]);

        String[] both = run("shard", "--node-id", "n1", "--model", "m.gguf", "--fetch-weights");
        assertNotEquals("0", both[0]);
        assertTrue(both[1].contains("exclude each other"), both[1]);
    }

    @Test
    void fetchOptionsAreRefusedWithALocalModel() {
        String[] r = run("shard", "--node-id", "n1", "--model", "m.gguf", "--weights-cache", "/tmp/x");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--weights-cache") && r[1].contains("--fetch-weights"), r[1]);
        String[] limit = run("shard", "--node-id", "n1", "--model", "m.gguf", "--weights-cache-gb", "5");
        assertEquals("2", limit[0]);
        assertTrue(limit[1].contains("--weights-cache-gb") && limit[1].contains("--fetch-weights"), limit[1]);
        String[] negative = run("shard", "--node-id", "n1", "--fetch-weights", "--weights-cache-gb", "-1");
        assertEquals("2", negative[0]);
        assertTrue(negative[1].contains("must not be negative"), negative[1]);
    }
}
