package dev.herd.cli.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InterfaceCountersTest {
    /** A /proc/net/dev table as Linux 6.1 prints it (receive columns, then transmit columns). */
    static final List<String> TABLE = List.of(
            "Inter-|   Receive                                                |  Transmit",
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed",
            "    lo: 8123456   40210    0    0    0     0          0         0  8123456   40210    0    0    0     0       0          0",
            "  eth0: 977143     6312    0    0    0     0          0         0 12345678    9876    0    0    0     0       0          0");

    @Test
    void readsTransmitBytesAndPacketsOfTheNamedInterface() {
        assertEquals(new InterfaceCounters.Sent(12345678, 9876), InterfaceCounters.sentBy(TABLE, "eth0", "t"));
        assertEquals(new InterfaceCounters.Sent(8123456, 40210), InterfaceCounters.sentBy(TABLE, "lo", "t"));
    }

    @Test
    void readsAFileNamedInTheSpec(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("dev");
        Files.write(f, TABLE);
        InterfaceCounters c = InterfaceCounters.parse(f + ":eth0");
        assertEquals("eth0", c.iface());
        assertEquals(9876, c.read().packets());
    }

    @Test
    void aMissingInterfaceOrBadSpecIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InterfaceCounters.sentBy(TABLE, "eth1", "/proc/1/net/dev"));
        assertTrue(e.getMessage().contains("eth1") && e.getMessage().contains("/proc/1/net/dev"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> InterfaceCounters.parse("/proc/1/net/dev"));
        assertThrows(IllegalArgumentException.class, () -> InterfaceCounters.parse("/proc/1/net/dev:"));
    }

    @Test
    void differencesAndSums() {
        var a = new InterfaceCounters.Sent(1000, 10);
        var b = new InterfaceCounters.Sent(1500, 13);
        assertEquals(new InterfaceCounters.Sent(500, 3), b.minus(a));
        assertEquals(new InterfaceCounters.Sent(2500, 23), a.plus(b));
    }
}
