package dev.herd.cli.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Bytes and packets a network interface transmitted, read from a {@code /proc/<pid>/net/dev} table. That file
 * shows the interfaces of the network namespace process {@code pid} lives in, so a coordinator can count the
 * traffic of nodes in other namespaces: every packet between namespaces leaves exactly one interface, so the
 * transmit counters of all of them together are the bytes on the wire (IP and TCP headers, HTTP/2 framing and
 * gRPC included).
 *
 * @param table     the {@code net/dev} file
 * @param iface     the interface name, e.g. {@code eth0} or {@code lo}
 */
public record InterfaceCounters(Path table, String iface) {

    /** Transmitted bytes and packets, as counted by the kernel. */
    public record Sent(long bytes, long packets) {
        public Sent minus(Sent before) {
            return new Sent(bytes - before.bytes, packets - before.packets);
        }

        public Sent plus(Sent o) {
            return new Sent(bytes + o.bytes, packets + o.packets);
        }
    }

    /** {@code FILE:IFACE}, e.g. {@code /proc/1234/net/dev:eth0}. */
    public static InterfaceCounters parse(String spec) {
        int colon = spec.lastIndexOf(':');
        if (colon <= 0 || colon == spec.length() - 1) {
            throw new IllegalArgumentException("an interface counter is FILE:IFACE (e.g. /proc/1234/net/dev:eth0), got '"
                    + spec + "'");
        }
        return new InterfaceCounters(Path.of(spec.substring(0, colon)), spec.substring(colon + 1));
    }

    public Sent read() {
        try {
            return sentBy(Files.readAllLines(table), iface, table.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read interface counters from " + table, e);
        }
    }

    /**
     * The transmit columns of {@code iface} in a {@code net/dev} table: after "name:" come 8 receive columns
     * (bytes, packets, errs, drop, fifo, frame, compressed, multicast), then transmit bytes and packets.
     */
    static Sent sentBy(List<String> lines, String iface, String source) {
        for (String line : lines) {
            int colon = line.indexOf(':');
            if (colon < 0 || !line.substring(0, colon).trim().equals(iface)) {
                continue;
            }
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (f.length < 10) {
                throw new IllegalArgumentException(source + ": the line of interface " + iface + " has " + f.length
                        + " columns, expected 16: '" + line + "'");
            }
            try {
                return new Sent(Long.parseLong(f[8]), Long.parseLong(f[9]));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(source + ": interface " + iface + " has a non-numeric transmit"
                        + " column: '" + line + "'", e);
            }
        }
        throw new IllegalArgumentException(source + " lists no interface '" + iface + "'");
    }
}
