import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * Link latency in user space, for kernels without the netem qdisc, and the probes that check a shaped link.
 * Run with the JDK's source launcher: {@code java --enable-native-access=ALL-UNNAMED LinkDelay.java MODE ...}.
 *
 * <ul>
 *   <li>{@code relay LISTEN TARGET ONE_WAY_US}: a TCP relay that holds every chunk it reads for the one-way delay
 *       before writing it on, in both directions, keeping order (a FIFO per direction; the delay is constant, so
 *       the due times are in order). Put in front of a server, it adds 2 x ONE_WAY_US to every round trip.</li>
 *   <li>{@code echo LISTEN}: answers every byte with itself.</li>
 *   <li>{@code ping TARGET COUNT BYTES [GAP_US]}: round trips of BYTES-byte messages to an echo server, GAP_US
 *       apart (default 0: back to back); prints microseconds (p50, p90, p99, min) after a warm-up. A gap lets the
 *       machine go idle between round trips, as it does between decode steps, so waking up is measured too.</li>
 *   <li>{@code sink LISTEN}: reads and discards.</li>
 *   <li>{@code blast TARGET SECONDS}: writes to a sink as fast as it takes them; prints Gbit/s.</li>
 * </ul>
 *
 * <p>Delays are waited with {@code parkNanos} (no spinning: the machine's cores run the nodes), after lowering the
 * thread's timer slack to 1 us so that a 100 us sleep is not stretched by the kernel's default 50 us slack. What
 * is left (wake-up latency, scheduling on a busy machine) makes the real delay somewhat longer than asked: the
 * benchmark measures the round trip it gets with {@code ping} and reports that.
 */
public final class LinkDelay {
    private static final int CHUNK = 64 * 1024;

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
        }
        switch (args[0]) {
            case "relay" -> {
                need(args, 4);
                relay(address(args[1]), address(args[2]), Long.parseLong(args[3]) * 1000);
            }
            case "echo" -> {
                need(args, 2);
                serve(address(args[1]), s -> pump(s.getInputStream(), s.getOutputStream()));
            }
            case "sink" -> {
                need(args, 2);
                serve(address(args[1]), s -> pump(s.getInputStream(), OutputStream.nullOutputStream()));
            }
            case "ping" -> {
                if (args.length != 4 && args.length != 5) {
                    usage();
                }
                ping(address(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                        args.length == 5 ? Long.parseLong(args[4]) * 1000 : 0);
            }
            case "blast" -> {
                need(args, 3);
                blast(address(args[1]), Double.parseDouble(args[2]));
            }
            default -> usage();
        }
    }

    private static void usage() {
        System.err.println("usage: LinkDelay relay LISTEN TARGET ONE_WAY_US | echo LISTEN | sink LISTEN"
                + " | ping TARGET COUNT BYTES [GAP_US] | blast TARGET SECONDS   (addresses as host:port)");
        System.exit(2);
    }

    private static void need(String[] args, int n) {
        if (args.length != n) {
            usage();
        }
    }

    private static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("expected host:port, got '" + hostPort + "'");
        }
        return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
    }

    private interface Handler {
        void handle(Socket s) throws IOException;
    }

    private static void serve(InetSocketAddress listen, Handler handler) throws IOException {
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(listen);
            System.out.println("listening on " + listen);
            System.out.flush();
            while (true) {
                Socket s = server.accept();
                s.setTcpNoDelay(true);
                Thread.ofPlatform().daemon().start(() -> {
                    try (s) {
                        handler.handle(s);
                    } catch (IOException e) {
                        // the peer went away: nothing to keep
                    }
                });
            }
        }
    }

    private static void pump(InputStream in, OutputStream out) throws IOException {
        byte[] buf = new byte[CHUNK];
        int n;
        while ((n = in.read(buf)) >= 0) {
            out.write(buf, 0, n);
            out.flush();
        }
    }

    // ---- relay

    /** A chunk read at {@code due - delay}; {@code data == null} marks the end of the stream. */
    private record Chunk(long due, byte[] data) {
    }

    private static void relay(InetSocketAddress listen, InetSocketAddress target, long delayNanos) throws IOException {
        serve(listen, client -> {
            try (Socket upstream = new Socket()) {
                upstream.setTcpNoDelay(true);
                upstream.connect(target);
                Thread back = delayed(upstream, client, delayNanos, "back");
                Thread forth = delayed(client, upstream, delayNanos, "forth");
                try {
                    back.join();
                    forth.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
    }

    /** Reads {@code from} on one thread and writes {@code to}, each chunk {@code delay} after it was read, on another. */
    private static Thread delayed(Socket from, Socket to, long delayNanos, String name) {
        LinkedBlockingQueue<Chunk> line = new LinkedBlockingQueue<>();
        Thread writer = Thread.ofPlatform().daemon().name("relay-" + name + "-out").start(() -> {
            lowerTimerSlack();
            try {
                OutputStream out = to.getOutputStream();
                while (true) {
                    Chunk c = line.take();
                    long wait;
                    while ((wait = c.due() - System.nanoTime()) > 0) {
                        LockSupport.parkNanos(wait);
                    }
                    if (c.data() == null) {
                        to.shutdownOutput();
                        return;
                    }
                    out.write(c.data());
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                closeQuietly(from);
                closeQuietly(to);
            }
        });
        Thread.ofPlatform().daemon().name("relay-" + name + "-in").start(() -> {
            byte[] buf = new byte[CHUNK];
            try {
                InputStream in = from.getInputStream();
                int n;
                while ((n = in.read(buf)) >= 0) {
                    line.add(new Chunk(System.nanoTime() + delayNanos, Arrays.copyOf(buf, n)));
                }
            } catch (IOException e) {
                // closed from the other side: end this direction too
            }
            line.add(new Chunk(System.nanoTime() + delayNanos, null));
        });
        return writer;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }

    /** prctl(PR_SET_TIMERSLACK, 1000 ns) for the calling thread; without it sleeps overshoot by up to 50 us. */
    private static void lowerTimerSlack() {
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle prctl = linker.downcallHandle(linker.defaultLookup().find("prctl").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG),
                    Linker.Option.firstVariadicArg(1));
            int rc = (int) prctl.invokeExact(29 /* PR_SET_TIMERSLACK */, 1000L);
            if (rc != 0) {
                System.err.println("relay: prctl(PR_SET_TIMERSLACK) returned " + rc + "; delays may overshoot");
            }
        } catch (Throwable t) {
            System.err.println("relay: cannot lower the timer slack (" + t + "); delays may overshoot");
        }
    }

    // ---- probes

    private static void ping(InetSocketAddress target, int count, int bytes, long gapNanos) throws IOException {
        try (Socket s = new Socket()) {
            s.setTcpNoDelay(true);
            s.connect(target);
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            byte[] msg = new byte[bytes];
            byte[] back = new byte[bytes];
            int warmup = Math.max(10, count / 10);
            long[] rtt = new long[count];
            for (int i = -warmup; i < count; i++) {
                if (gapNanos > 0) {
                    LockSupport.parkNanos(gapNanos);
                }
                long t0 = System.nanoTime();
                out.write(msg);
                out.flush();
                int got = 0;
                while (got < bytes) {
                    int n = in.read(back, got, bytes - got);
                    if (n < 0) {
                        throw new IOException("the echo server closed the connection");
                    }
                    got += n;
                }
                if (i >= 0) {
                    rtt[i] = System.nanoTime() - t0;
                }
            }
            Arrays.sort(rtt);
            System.out.printf(Locale.ROOT, "{\"target\":\"%s\",\"bytes\":%d,\"count\":%d,\"gap_us\":%d,\"rtt_us\":"
                            + "{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"min\":%.1f}}%n", target, bytes, count,
                    gapNanos / 1000, rank(rtt, 50), rank(rtt, 90), rank(rtt, 99), rtt[0] / 1e3);
        }
    }

    private static double rank(long[] sorted, int percent) {
        return sorted[Math.max(0, (int) Math.ceil(percent / 100.0 * sorted.length) - 1)] / 1e3;
    }

    private static void blast(InetSocketAddress target, double seconds) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(target);
            OutputStream out = s.getOutputStream();
            byte[] buf = new byte[1 << 20];
            long t0 = System.nanoTime();
            long end = t0 + (long) (seconds * 1e9);
            long sent = 0;
            while (System.nanoTime() < end) {
                out.write(buf);
                sent += buf.length;
            }
            double elapsed = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "{\"target\":\"%s\",\"seconds\":%.2f,\"gbit_per_s\":%.3f}%n", target,
                    elapsed, sent * 8 / elapsed / 1e9);
        }
    }
}
