package dev.herd.coordinator.plan;

/**
 * A network path between two nodes, as measured or advertised.
 *
 * @param gbitPerSecond   usable bandwidth in Gbit/s (10^9 bits)
 * @param roundTripMicros round-trip latency in microseconds
 */
public record Link(double gbitPerSecond, double roundTripMicros) {
    public Link {
        if (!(gbitPerSecond > 0) || Double.isInfinite(gbitPerSecond)) {
            throw new IllegalArgumentException("link bandwidth must be positive and finite: " + gbitPerSecond);
        }
        if (!(roundTripMicros >= 0) || Double.isInfinite(roundTripMicros)) {
            throw new IllegalArgumentException("round-trip latency must be finite and not negative: " + roundTripMicros);
        }
    }

    public double bytesPerSecond() {
        return gbitPerSecond * 1e9 / 8;
    }

    public double roundTripSeconds() {
        return roundTripMicros * 1e-6;
    }

    /** One message of {@code bytes} one way: serialisation plus half a round trip. */
    public double oneWaySeconds(double bytes) {
        return bytes / bytesPerSecond() + roundTripSeconds() / 2;
    }

    /** A request of {@code bytesEachWay} answered by as many bytes: a full round trip plus both transfers. */
    public double roundTripSeconds(double bytesEachWay) {
        return roundTripSeconds() + 2 * bytesEachWay / bytesPerSecond();
    }

    /** The path between two nodes on one switch: the slower port sets the bandwidth and the latency. */
    public static Link throughSwitch(Link a, Link b) {
        return new Link(Math.min(a.gbitPerSecond, b.gbitPerSecond), Math.max(a.roundTripMicros, b.roundTripMicros));
    }
}
