package dev.herd.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code herd plan} on real model configs and made-up machines. */
class PlanCommandTest {
    /** The real configs the model module keeps as fixtures. */
    private static final Path MAVERICK = Path.of(System.getProperty("basedir", "."))
            .resolve("../model/src/test/resources/configs/llama4-maverick-17b-128e.json").normalize();

    private static int run(StringWriter out, String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "plan";
        System.arraycopy(args, 0, all, 1, args.length);
        return Herd.commandLine().setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(all);
    }

    @Test
    void maverickInFourBitsFitsFourMachinesAndAGpu() {
        StringWriter out = new StringWriter();
        int rc = run(out, "--model", MAVERICK.toString(), "--dtype", "Q4_K", "--node", "a=64", "--node", "b=64",
                "--node", "c=64", "--node", "d=64", "--node", "gpu=80,cuda,bw=3000");
        assertEquals(0, rc, out.toString());
        String text = out.toString();
        assertTrue(text.contains("48 layers; 5 node(s), 336.0 GB offered"), text);
        assertTrue(text.matches("(?s).*needs: \\d{12} bytes in all.*"), text);
        assertTrue(text.contains("[gpu [0, 48)]"), "the attention layers go to the GPU: " + text);
        assertTrue(text.contains("tokens/s for one stream"), text);
    }

    @Test
    void twoMachinesAreTooSmallAndTheMissingMemoryIsNamed() {
        StringWriter out = new StringWriter();
        int rc = run(out, "--model", MAVERICK.toString(), "--dtype", "Q4_K", "--node", "a=64", "--node", "b=64");
        assertEquals(1, rc);
        assertTrue(out.toString().contains("does not fit") && out.toString().contains("GB missing"), out.toString());
    }

    @Test
    void badNodeSpecsAreClearErrors() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PlanCommand.node("a=lots")).getMessage()
                .contains("GB must be a non-negative number"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PlanCommand.node("64")).getMessage()
                .contains("expected NAME=GB"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PlanCommand.node("a=64,fast")).getMessage()
                .contains("unknown setting 'fast'"));
        assertEquals(3000, PlanCommand.node("g=80,cuda,bw=3000,link=100,rtt=5").memoryBandwidthGBps());
    }
}
