package dev.herd.shard.weights;

import dev.herd.model.weights.ModelFormatException;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.TensorChunk;
import dev.herd.proto.v1.TensorRequest;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerChannels;
import dev.herd.shard.PeerEndpoint;
import io.grpc.StatusRuntimeException;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A node's way to its weights when it cannot see the model files: before each assignment is loaded,
 * {@link #provide} brings exactly the tensors the assignment needs into the {@link TensorCache}, each one checked
 * against the SHA-256 its holder sends, reusing what the cache already has (checked again) and resuming what an
 * interrupted fetch left.
 *
 * <p>Failures, as the weight-transfer contract asks: a holder that vanishes, goes silent or refuses mid-stream is
 * left for another holder, which continues from the byte where the first stopped (the part file keeps them); the
 * fetch fails only when every holder known has failed with no byte gained since. A tensor whose checksum does not
 * match is discarded and fetched once more, from another holder (or from the same one when the mismatch may come
 * from bytes this node kept from an earlier attempt); a second mismatch, or no other holder to ask, fails the
 * assignment with a message naming the tensor, the holders and both hashes.
 */
public final class WeightFetcher implements AutoCloseable {
    /** How often progress is written to the log while bytes flow. */
    private static final long LOG_EVERY_NANOS = 2_000_000_000L;

    /**
     * @param idleTimeout      longest wait for a holder's next chunk before it counts as gone
     * @param describeDeadline deadline of {@code DescribeModel} and {@code ListTensors}
     */
    public record Settings(Duration idleTimeout, Duration describeDeadline) {
        public static Settings defaults() {
            return new Settings(Duration.ofSeconds(30), Duration.ofSeconds(30));
        }
    }

    private final TensorCache cache;
    private final WeightHolders holders;
    private final NodeIdentity self;
    private final PeerChannels channels;
    private final Settings settings;
    private final Consumer<String> log;

    public WeightFetcher(TensorCache cache, WeightHolders holders, NodeIdentity self, PeerChannels channels,
                         Settings settings, Consumer<String> log) {
        if (!self.modelDigest().equals(cache.manifest().digest())) {
            throw new IllegalArgumentException("node " + self.nodeId() + " serves model " + self.modelDigest()
                    + ", the cache holds " + cache.manifest().digest());
        }
        this.cache = cache;
        this.holders = holders;
        this.self = self;
        this.channels = channels;
        this.settings = settings;
        this.log = log;
    }

    /**
     * Opens model {@code digest} from the first holder that describes it, with its cache under {@code cacheRoot}.
     *
     * @throws WeightFetchException when no holder is known or none could describe the model
     */
    public static WeightFetcher open(Path cacheRoot, String nodeId, String digest, WeightHolders holders,
                                     Settings settings, Consumer<String> log) {
        NodeIdentity self = new NodeIdentity(nodeId, digest);
        PeerChannels channels = new PeerChannels();
        try {
            List<PeerEndpoint> known = order(holders.holders(), nodeId);
            Map<String, String> errors = new LinkedHashMap<>();
            for (PeerEndpoint h : known) {
                try {
                    ModelManifest m = ModelManifest.describe(channels.channel(h.address()),
                            self.hello(0, NodeRole.NODE_ROLE_SHARD), settings.describeDeadline());
                    TensorCache cache = TensorCache.open(cacheRoot, m);
                    log.accept("model " + digest + " described by " + h.nodeId() + ": " + m.format() + ", "
                            + m.index().size() + " tensors; cache " + cache.dir());
                    return new WeightFetcher(cache, holders, self, channels, settings, log);
                } catch (StatusRuntimeException | IllegalArgumentException | ModelFormatException e) {
                    // this holder could not describe the model it advertises: another one may
                    errors.put(h.nodeId() + " (" + h.address() + ")", e.getMessage());
                }
            }
            throw new WeightFetchException(known.isEmpty() ? "no peer holds the files of model " + digest
                    : "no holder could describe model " + digest + ": " + errors);
        } catch (RuntimeException e) {
            channels.close();
            throw e;
        }
    }

    public TensorCache cache() {
        return cache;
    }

    /**
     * Makes the named tensors readable from {@link TensorCache#store()}: reused when the cache has them and they
     * check out, fetched otherwise. Blocks until done.
     *
     * @param names    tensors of the model (any order; fetched in the holder's index order)
     * @param progress updated as bytes arrive, for {@code Ready} and the log
     * @param counters the node's counters: bytes received, tensors reused
     * @throws WeightFetchException when a tensor could not be had from any holder
     */
    public synchronized void provide(List<String> names, FetchProgress progress, WeightCounters counters) {
        TensorIndex index = cache.manifest().index();
        Set<String> asked = new HashSet<>(names);
        for (String n : asked) {
            index.get(n); // a name the model does not have is a bug in the caller: say which
        }
        List<String> wanted = index.names().stream().filter(asked::contains).toList();
        progress.start(index.bytes(wanted));
        List<String> missing = new ArrayList<>();
        long reusedBytes = 0;
        int reused = 0;
        for (String n : wanted) {
            long size = index.get(n).byteSize();
            switch (cache.state(n)) {
                case VERIFIED -> progress.ready(size);
                case STORED -> {
                    if (cache.reuse(n, Optional.ofNullable(cache.manifest().hashes().get(n)))) {
                        counters.cached(size);
                        progress.ready(size);
                        reused++;
                        reusedBytes += size;
                    } else {
                        log.accept("cached tensor '" + n + "' failed its check; fetching it again");
                        missing.add(n);
                    }
                }
                case PARTIAL -> {
                    progress.ready(cache.partialBytes(n));
                    missing.add(n);
                }
                case ABSENT -> missing.add(n);
            }
        }
        if (reused > 0) {
            log.accept("reused " + reused + " tensor(s), " + FetchProgress.mib(reusedBytes) + ", from " + cache.dir());
        }
        if (!missing.isEmpty()) {
            log.accept("fetching " + missing.size() + " of " + wanted.size() + " tensor(s), "
                    + FetchProgress.mib(index.bytes(missing)) + " of " + FetchProgress.mib(progress.totalBytes()));
            fetch(missing, progress, counters);
        }
        cache.publish();
        progress.finish();
        log.accept("weights ready: " + progress.describe() + " in " + String.format("%.2f s", progress.seconds()));
    }

    /** A holder failed us (gone, silent, refusing, or breaking the protocol); another may go on from here. */
    private static final class HolderFailed extends Exception {
        HolderFailed(String message) {
            super(message);
        }
    }

    /** A whole tensor arrived and its SHA-256 is not the holder's. */
    private static final class ChecksumMismatch extends Exception {
        final String tensor;
        final boolean resumed;

        ChecksumMismatch(String tensor, String message, boolean resumed) {
            super(message);
            this.tensor = tensor;
            this.resumed = resumed;
        }
    }

    private void fetch(List<String> missing, FetchProgress progress, WeightCounters counters) {
        Deque<String> remaining = new ArrayDeque<>(missing);
        Map<String, List<String>> mismatches = new HashMap<>();
        Map<String, Set<String>> notFrom = new HashMap<>();
        Map<String, String> failedSinceProgress = new LinkedHashMap<>();
        long lastLog = System.nanoTime();
        while (!remaining.isEmpty()) {
            String first = remaining.peekFirst();
            long offset = cache.partialBytes(first);
            List<String> batch = new ArrayList<>(List.of(first));
            for (String n : remaining) {
                if (!n.equals(first)) {
                    if (cache.partialBytes(n) > 0) {
                        break; // a tensor with kept bytes starts a request of its own, so its bytes are not sent again
                    }
                    batch.add(n);
                }
            }
            Set<String> excluded = new HashSet<>(failedSinceProgress.keySet());
            excluded.addAll(notFrom.getOrDefault(first, Set.of()));
            List<PeerEndpoint> candidates = order(holders.holders(), self.nodeId()).stream()
                    .filter(h -> !excluded.contains(h.nodeId())).toList();
            if (candidates.isEmpty()) {
                List<String> seen = mismatches.get(first);
                if (seen != null) {
                    throw new WeightFetchException(seen.getFirst() + ", and no other holder has it to retry from");
                }
                throw new WeightFetchException("cannot fetch tensor '" + first + "' of model " + self.modelDigest()
                        + (failedSinceProgress.isEmpty() ? ": no peer holds the model's files"
                        : " (" + remaining.size() + " tensor(s) left): every holder failed: " + failedSinceProgress));
            }
            PeerEndpoint holder = candidates.getFirst();
            long before = progress.receivedBytes();
            try {
                lastLog = stream(holder, batch, offset, remaining, progress, counters, lastLog);
            } catch (HolderFailed f) {
                if (progress.receivedBytes() > before) {
                    failedSinceProgress.clear();
                }
                failedSinceProgress.put(holder.nodeId(), f.getMessage());
                String next = remaining.peekFirst();
                log.accept("holder " + holder.nodeId() + " (" + holder.address() + ") failed: " + f.getMessage()
                        + (next == null ? "" : "; going on from byte " + cache.partialBytes(next) + " of '" + next
                        + "' with another holder if there is one"));
            } catch (ChecksumMismatch m) {
                List<String> seen = mismatches.computeIfAbsent(m.tensor, k -> new ArrayList<>());
                seen.add(m.getMessage());
                if (seen.size() > 1) {
                    throw new WeightFetchException("tensor '" + m.tensor + "' failed its SHA-256 check twice: "
                            + String.join("; then ", seen));
                }
                if (!m.resumed) {
                    notFrom.computeIfAbsent(m.tensor, k -> new HashSet<>()).add(holder.nodeId());
                }
                log.accept(m.getMessage() + "; discarded, fetching it once more");
            }
        }
    }

    /**
     * One {@code FetchTensors} call: receives {@code batch} from {@code holder}, storing each chunk as it comes and
     * completing each tensor whose checksum matches (removing it from {@code remaining}).
     *
     * @return when progress was last logged
     */
    private long stream(PeerEndpoint holder, List<String> batch, long offset, Deque<String> remaining,
                        FetchProgress progress, WeightCounters counters, long lastLog)
            throws HolderFailed, ChecksumMismatch {
        TensorIndex index = cache.manifest().index();
        Hello hello = self.hello(0, NodeRole.NODE_ROLE_SHARD);
        TensorRequest request = TensorRequest.newBuilder().setHello(hello).addAllNames(batch).setOffset(offset).build();
        int i = 0;
        TensorCache.Receiving r = null;
        Sha256 sha = null;
        try (ChunkStream chunks = ChunkStream.open(channels.channel(holder.address()), request, settings.idleTimeout())) {
            for (TensorChunk c = chunks.next(); c != null; c = chunks.next()) {
                if (i == batch.size()) {
                    throw new HolderFailed("sent tensor '" + c.getName() + "' after the " + batch.size() + " asked for");
                }
                StoredTensor t = index.get(batch.get(i));
                if (r == null) {
                    r = cache.receive(t.name(), i == 0 ? offset : 0);
                    sha = new Sha256();
                    r.hashKept(sha);
                }
                int len = c.getData().size();
                if (!c.getName().equals(t.name()) || c.getOffset() != r.written() || c.getTotalSize() != t.byteSize()
                        || len > t.byteSize() - r.written() || (len == 0 && t.byteSize() > 0)) {
                    throw new HolderFailed("sent chunk ('" + c.getName() + "', offset " + c.getOffset() + ", " + len
                            + " of " + c.getTotalSize() + " bytes) where byte " + r.written() + " of '" + t.name()
                            + "' (" + t.byteSize() + " bytes) was due");
                }
                r.append(c.getData());
                for (ByteBuffer b : c.getData().asReadOnlyByteBufferList()) {
                    sha.update(b);
                }
                counters.received(len);
                progress.received(len);
                if (System.nanoTime() - lastLog > LOG_EVERY_NANOS) {
                    lastLog = System.nanoTime();
                    log.accept("fetching from " + holder.nodeId() + ": " + progress.describe());
                }
                if (r.written() < t.byteSize()) {
                    continue;
                }
                String actual = sha.hex();
                if (c.getSha256().isEmpty()) {
                    throw new HolderFailed("sent the last chunk of '" + t.name() + "' without its SHA-256");
                }
                if (!c.getSha256().equals(actual)) {
                    long kept = r.written();
                    boolean resumed = i == 0 && offset > 0;
                    r.discard();
                    r = null;
                    progress.discarded(kept);
                    throw new ChecksumMismatch(t.name(), "tensor '" + t.name() + "' from holder " + holder.nodeId()
                            + " (" + holder.address() + ") failed its SHA-256 check: the holder says " + c.getSha256()
                            + ", the " + t.byteSize() + " bytes " + (resumed ? "(" + offset + " kept from an earlier"
                            + " attempt) " : "") + "hash to " + actual, resumed);
                }
                r.complete(actual);
                r = null;
                counters.receivedTensor();
                remaining.remove(t.name());
                i++;
            }
            if (i < batch.size()) {
                throw new HolderFailed("ended the stream after " + i + " of " + batch.size() + " tensor(s), in '"
                        + batch.get(i) + "'");
            }
            return lastLog;
        } catch (StatusRuntimeException e) {
            throw new HolderFailed(e.getStatus().getCode() + (e.getStatus().getDescription() == null ? ""
                    : ": " + e.getStatus().getDescription()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new WeightFetchException("interrupted while fetching from " + holder.nodeId(), e);
        } finally {
            if (r != null) {
                r.close(); // what arrived stays in the part file for whoever goes on
            }
        }
    }

    /**
     * Holders sorted by id and rotated by an amount that depends on this node's id, so that nodes fetching at once
     * spread over the holders instead of all asking the same one.
     */
    static List<PeerEndpoint> order(List<PeerEndpoint> holders, String nodeId) {
        List<PeerEndpoint> distinct = new ArrayList<>(new LinkedHashSet<>(holders));
        if (distinct.isEmpty()) {
            return distinct;
        }
        distinct.sort(java.util.Comparator.comparing(PeerEndpoint::nodeId));
        int shift = Math.floorMod(nodeId.hashCode(), distinct.size());
        List<PeerEndpoint> out = new ArrayList<>(distinct.subList(shift, distinct.size()));
        out.addAll(distinct.subList(0, shift));
        return out;
    }

    @Override
    public void close() {
        channels.close();
        cache.close();
    }
}
