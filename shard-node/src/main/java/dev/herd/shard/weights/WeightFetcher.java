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
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A node's way to its weights when it cannot see the model files: before each assignment is loaded,
 * {@link #provide} brings exactly the tensors the assignment needs into the {@link TensorCache}, and of a stacked
 * expert tensor only the slices of the experts the node holds, each one checked against the SHA-256 its holder
 * sends, reusing what the cache already has (checked again) and resuming what an interrupted fetch left.
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
     * @param cacheLimitBytes  disk the cache of fetched tensors may take (all models under its root); what the
     *                         assignment being loaded and the parts being served use is kept even beyond it
     */
    public record Settings(Duration idleTimeout, Duration describeDeadline, long cacheLimitBytes) {
        /** 100 GiB: several parts of a large model, and still a bound on a node that serves for months. */
        public static final long DEFAULT_CACHE_LIMIT_BYTES = 100L << 30;

        public Settings {
            if (cacheLimitBytes < 0) {
                throw new IllegalArgumentException("a cache limit of " + cacheLimitBytes + " bytes");
            }
        }

        public Settings(Duration idleTimeout, Duration describeDeadline) {
            this(idleTimeout, describeDeadline, DEFAULT_CACHE_LIMIT_BYTES);
        }

        public static Settings defaults() {
            return new Settings(Duration.ofSeconds(30), Duration.ofSeconds(30));
        }

        public Settings withCacheLimit(long bytes) {
            return new Settings(idleTimeout, describeDeadline, bytes);
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
     * Makes the named tensors, or slices of them, readable from {@link TensorCache#store()}: reused when the cache
     * has them and they check out, fetched otherwise. Before fetching, the cache is pruned to its limit, keeping
     * these tensors and those the node computes with. Blocks until done.
     *
     * @param keys     tensors of the model by name, or slices of them as {@code name[index]} (see
     *                 {@link TensorPiece}); any order, fetched in the holder's index order
     * @param progress updated as bytes arrive, for {@code Ready} and the log
     * @param counters the node's counters: bytes received, tensors reused, and the bytes the node has of tensors
     *                 fetched as slices
     * @throws WeightFetchException when a tensor could not be had from any holder
     * @throws IllegalArgumentException naming a key that is no tensor or slice of the model
     */
    public synchronized void provide(List<String> keys, FetchProgress progress, WeightCounters counters) {
        List<TensorPiece> wanted = pieces(keys);
        progress.start(wanted.stream().mapToLong(TensorPiece::size).sum());
        List<TensorPiece> missing = new ArrayList<>();
        long reusedBytes = 0;
        int reused = 0;
        for (TensorPiece p : wanted) {
            long size = p.size();
            switch (cache.state(p)) {
                case VERIFIED -> progress.ready(size);
                case STORED -> {
                    if (cache.reuse(p)) {
                        counters.cached(size);
                        progress.ready(size);
                        reused++;
                        reusedBytes += size;
                    } else {
                        log.accept("cached " + p.describe() + " failed its check; fetching it again");
                        missing.add(p);
                    }
                }
                case PARTIAL -> {
                    progress.ready(cache.partialBytes(p));
                    missing.add(p);
                }
                case ABSENT -> missing.add(p);
            }
        }
        if (reused > 0) {
            log.accept("reused " + reused + " tensor(s) or slice(s), " + FetchProgress.mib(reusedBytes) + ", from "
                    + cache.dir());
        }
        Set<String> keep = new HashSet<>();
        long incoming = 0;
        for (TensorPiece p : wanted) {
            keep.add(p.name());
        }
        for (TensorPiece p : missing) {
            incoming += p.size() - cache.partialBytes(p);
        }
        TensorCache.Pruned pruned = cache.prune(keep, incoming, settings.cacheLimitBytes());
        if (pruned.bytesFreed() > 0) {
            log.accept("weight cache over its limit of " + FetchProgress.mib(settings.cacheLimitBytes()) + ": removed "
                    + pruned.tensorsEvicted() + " tensor(s) and " + pruned.modelsEvicted() + " other model(s), "
                    + FetchProgress.mib(pruned.bytesFreed()));
        }
        if (pruned.overLimit() > 0) {
            log.accept("weight cache holds " + FetchProgress.mib(pruned.overLimit()) + " more than its limit of "
                    + FetchProgress.mib(settings.cacheLimitBytes()) + ", all of it in use");
        }
        if (!missing.isEmpty()) {
            log.accept("fetching " + missing.size() + " of " + wanted.size() + " tensor(s) or slice(s), "
                    + FetchProgress.mib(incoming) + " of " + FetchProgress.mib(progress.totalBytes()));
            fetch(missing, progress, counters);
        }
        for (TensorPiece p : wanted) {
            if (p.isSlice() && cache.checkedBytes(p.name()) < p.tensor().byteSize()) {
                counters.partlyHeld(p.name(), cache.checkedBytes(p.name()));
            }
        }
        cache.publish();
        progress.finish();
        log.accept("weights ready: " + progress.describe() + " in " + String.format("%.2f s", progress.seconds()));
    }

    /**
     * The pieces the keys name, each once, in the holder's index order (slices of a tensor by index); a whole
     * tensor asked for makes its slices asked for too redundant.
     */
    private List<TensorPiece> pieces(List<String> keys) {
        TensorIndex index = cache.manifest().index();
        Map<String, TensorPiece> byKey = new HashMap<>();
        Set<String> whole = new HashSet<>();
        for (String k : keys) {
            TensorPiece p = index.piece(k); // a key the model does not have is a bug in the caller: say which
            byKey.put(p.key(), p);
            if (!p.isSlice()) {
                whole.add(p.name());
            }
        }
        return byKey.values().stream().filter(p -> !p.isSlice() || !whole.contains(p.name()))
                .sorted(Comparator.comparingInt((TensorPiece p) -> index.position(p.name()))
                        .thenComparingLong(TensorPiece::slice))
                .toList();
    }

    /** A holder failed us (gone, silent, refusing, or breaking the protocol); another may go on from here. */
    private static final class HolderFailed extends Exception {
        HolderFailed(String message) {
            super(message);
        }
    }

    /** A whole tensor or slice arrived and its SHA-256 is not the holder's. */
    private static final class ChecksumMismatch extends Exception {
        final String key;
        final boolean resumed;

        ChecksumMismatch(String key, String message, boolean resumed) {
            super(message);
            this.key = key;
            this.resumed = resumed;
        }
    }

    private void fetch(List<TensorPiece> missing, FetchProgress progress, WeightCounters counters) {
        Deque<TensorPiece> remaining = new ArrayDeque<>(missing);
        Map<String, List<String>> mismatches = new HashMap<>();
        Map<String, Set<String>> notFrom = new HashMap<>();
        Map<String, String> failedSinceProgress = new LinkedHashMap<>();
        long lastLog = System.nanoTime();
        while (!remaining.isEmpty()) {
            TensorPiece first = remaining.peekFirst();
            long offset = cache.partialBytes(first);
            List<TensorPiece> batch = new ArrayList<>(List.of(first));
            for (TensorPiece p : remaining) {
                if (p != first) {
                    if (cache.partialBytes(p) > 0) {
                        break; // a piece with kept bytes starts a request of its own, so its bytes are not sent again
                    }
                    batch.add(p);
                }
            }
            Set<String> excluded = new HashSet<>(failedSinceProgress.keySet());
            excluded.addAll(notFrom.getOrDefault(first.key(), Set.of()));
            List<PeerEndpoint> candidates = order(holders.holders(), self.nodeId()).stream()
                    .filter(h -> !excluded.contains(h.nodeId())).toList();
            if (candidates.isEmpty()) {
                List<String> seen = mismatches.get(first.key());
                if (seen != null) {
                    throw new WeightFetchException(seen.getFirst() + ", and no other holder has it to retry from");
                }
                throw new WeightFetchException("cannot fetch " + first.describe() + " of model " + self.modelDigest()
                        + (failedSinceProgress.isEmpty() ? ": no peer holds the model's files"
                        : " (" + remaining.size() + " tensor(s) or slice(s) left): every holder failed: "
                        + failedSinceProgress));
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
                TensorPiece next = remaining.peekFirst();
                log.accept("holder " + holder.nodeId() + " (" + holder.address() + ") failed: " + f.getMessage()
                        + (next == null ? "" : "; going on from byte " + cache.partialBytes(next) + " of "
                        + next.describe() + " with another holder if there is one"));
            } catch (ChecksumMismatch m) {
                List<String> seen = mismatches.computeIfAbsent(m.key, k -> new ArrayList<>());
                seen.add(m.getMessage());
                if (seen.size() > 1) {
                    throw new WeightFetchException("'" + m.key + "' failed its SHA-256 check twice: "
                            + String.join("; then ", seen));
                }
                if (!m.resumed) {
                    notFrom.computeIfAbsent(m.key, k -> new HashSet<>()).add(holder.nodeId());
                }
                log.accept(m.getMessage() + "; discarded, fetching it once more");
            }
        }
    }

    /**
     * One {@code FetchTensors} call: receives {@code batch} from {@code holder}, storing each chunk as it comes and
     * completing each piece whose checksum matches (removing it from {@code remaining}). Whole tensors alone are
     * asked for by name, which every holder understands; a batch with slices goes as pieces.
     *
     * @return when progress was last logged
     */
    private long stream(PeerEndpoint holder, List<TensorPiece> batch, long offset, Deque<TensorPiece> remaining,
                        FetchProgress progress, WeightCounters counters, long lastLog)
            throws HolderFailed, ChecksumMismatch {
        Hello hello = self.hello(0, NodeRole.NODE_ROLE_SHARD);
        TensorRequest.Builder request = TensorRequest.newBuilder().setHello(hello).setOffset(offset);
        boolean sliced = batch.stream().anyMatch(TensorPiece::isSlice);
        for (TensorPiece p : batch) {
            if (!sliced) {
                request.addNames(p.name());
            } else {
                dev.herd.proto.v1.TensorPiece.Builder b = dev.herd.proto.v1.TensorPiece.newBuilder().setName(p.name());
                if (p.isSlice()) {
                    b.setSlice(p.slice());
                }
                request.addPieces(b);
            }
        }
        int i = 0;
        TensorCache.Receiving r = null;
        Sha256 sha = null;
        try (ChunkStream chunks = ChunkStream.open(channels.channel(holder.address()), request.build(),
                settings.idleTimeout())) {
            for (TensorChunk c = chunks.next(); c != null; c = chunks.next()) {
                if (i == batch.size()) {
                    throw new HolderFailed("sent tensor '" + c.getName() + "' after the " + batch.size() + " asked for");
                }
                TensorPiece t = batch.get(i);
                if (r == null) {
                    r = cache.receive(t, i == 0 ? offset : 0);
                    sha = new Sha256();
                    r.hashKept(sha);
                }
                int len = c.getData().size();
                boolean samePiece = c.getName().equals(t.name()) && c.hasSlice() == t.isSlice()
                        && (!t.isSlice() || c.getSlice() == t.slice());
                if (!samePiece || c.getOffset() != r.written() || c.getTotalSize() != t.size()
                        || len > t.size() - r.written() || (len == 0 && t.size() > 0)) {
                    throw new HolderFailed("sent chunk ('" + c.getName() + "'" + (c.hasSlice() ? " slice "
                            + c.getSlice() : "") + ", offset " + c.getOffset() + ", " + len + " of "
                            + c.getTotalSize() + " bytes) where byte " + r.written() + " of " + t.describe() + " ("
                            + t.size() + " bytes) was due");
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
                if (r.written() < t.size()) {
                    continue;
                }
                String actual = sha.hex();
                if (c.getSha256().isEmpty()) {
                    throw new HolderFailed("sent the last chunk of " + t.describe() + " without its SHA-256");
                }
                if (!c.getSha256().equals(actual)) {
                    long kept = r.written();
                    boolean resumed = i == 0 && offset > 0;
                    r.discard();
                    r = null;
                    progress.discarded(kept);
                    throw new ChecksumMismatch(t.key(), t.describe() + " from holder " + holder.nodeId() + " ("
                            + holder.address() + ") failed its SHA-256 check: the holder says " + c.getSha256()
                            + ", the " + t.size() + " bytes " + (resumed ? "(" + offset + " kept from an earlier"
                            + " attempt) " : "") + "hash to " + actual, resumed);
                }
                r.complete(actual);
                r = null;
                counters.receivedTensor(t.name());
                remaining.remove(t);
                i++;
            }
            if (i < batch.size()) {
                throw new HolderFailed("ended the stream after " + i + " of " + batch.size() + " tensor(s), in "
                        + batch.get(i).describe() + (sliced && i == 0 ? " (a holder built before slices of tensors"
                        + " could be asked for sends nothing for them)" : ""));
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
