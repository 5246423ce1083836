package dev.herd.shard.weights;

import dev.herd.kernels.Tensor;
import dev.herd.model.config.Architecture;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.WeightStore;
import dev.herd.shard.PeerEndpoint;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fetching side against real holders on loopback: exactly the tensors asked for arrive, byte for byte as the
 * holder's file stores them, readable through the model's own format reader; an interrupted fetch resumes where it
 * stopped, with the same holder later or another one at once; a corrupt chunk is caught by the checksum and fetched
 * again from another holder, or fails naming the tensor; a restarted node reuses its cache after checking it.
 */
class WeightFetcherTest {
    /** Three tensors of different sizes, in no particular order. */
    static final List<String> SOME = List.of("blk.1.ffn_down_exps.weight", "token_embd.weight", "blk.0.attn_k.weight");
    static final Duration IDLE = Duration.ofSeconds(5);

    @TempDir
    Path dir;
    Holders holders;
    Path model;
    final List<WeightFetcher> fetchers = new ArrayList<>();
    final List<String> log = new CopyOnWriteArrayList<>();

    @BeforeEach
    void model() {
        holders = new Holders();
        model = Holders.gguf(dir, Architecture.MIXTRAL);
    }

    @AfterEach
    void close() {
        fetchers.forEach(WeightFetcher::close);
        holders.close();
    }

    WeightFetcher fetcher(String id, Path cache, String digest, List<Holders.Holder> from) {
        WeightFetcher f = WeightFetcher.open(cache, id, digest, WeightHolders.of(from.stream()
                .map(Holders.Holder::endpoint).toList()), new WeightFetcher.Settings(IDLE, IDLE), log::add);
        fetchers.add(f);
        return f;
    }

    /** A fetcher id for which the holders are asked in the given order (the order spreads fetchers over holders). */
    static String idAskingFirst(Holders.Holder first, List<Holders.Holder> all) {
        List<PeerEndpoint> ends = all.stream().map(Holders.Holder::endpoint).toList();
        for (int i = 0; ; i++) {
            if (WeightFetcher.order(ends, "f" + i).getFirst().equals(first.endpoint())) {
                return "f" + i;
            }
        }
    }

    static long size(ModelFiles files, List<String> names) {
        return names.stream().mapToLong(n -> files.store().get(n).data().byteSize()).sum();
    }

    /** Every tensor the store resolves holds the file's bytes, type and shape. */
    static void assertSameTensors(ModelFiles files, WeightStore store, List<String> names) {
        for (String n : names) {
            Tensor expected = files.store().get(n);
            Tensor actual = store.get(n);
            assertEquals(expected.dtype(), actual.dtype(), n);
            assertArrayEquals(expected.shape(), actual.shape(), n);
            assertArrayEquals(expected.data().toArray(ValueLayout.JAVA_BYTE), actual.data().toArray(ValueLayout.JAVA_BYTE),
                    "bytes of " + n);
        }
    }

    @Test
    void fetchesExactlyTheTensorsAskedForAndNothingElseResolves() {
        Holders.Holder h = holders.start("h1", model);
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), h.digest(), List.of(h));
        WeightCounters counters = new WeightCounters();
        FetchProgress progress = new FetchProgress();
        f.provide(SOME, progress, counters);

        long expected = size(h.files(), SOME);
        WeightCounters.Snapshot s = counters.snapshot();
        assertEquals(expected, s.receivedBytes(), "bytes received: exactly the three tensors' stored sizes");
        assertEquals(3, s.receivedTensors());
        assertEquals(expected, h.counters().snapshot().servedBytes(), "bytes the holder sent");
        assertEquals(expected, progress.totalBytes());
        assertEquals(expected, progress.doneBytes());
        assertSameTensors(h.files(), f.cache().store(), SOME);
        assertEquals(h.files().store().names(), f.cache().store().names(), "the store knows the whole model by name");
        IllegalStateException notFetched = assertThrows(IllegalStateException.class,
                () -> f.cache().store().find("blk.0.attn_q.weight"));
        assertTrue(notFetched.getMessage().contains("blk.0.attn_q.weight"), notFetched.getMessage());
        assertTrue(f.cache().store().find("no.such.tensor").isEmpty());
    }

    @Test
    void aHuggingFaceModelIsCachedAsAShardedDirectoryItsReaderOpens() {
        Path hf = Holders.huggingFace(dir, Architecture.QWEN3_MOE, 64 << 10);
        Holders.Holder h = holders.start("h1", hf);
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), h.digest(), List.of(h));
        List<String> some = List.of("model.layers.1.mlp.experts.3.down_proj.weight", "model.norm.weight",
                "model.embed_tokens.weight");
        WeightCounters counters = new WeightCounters();
        f.provide(some, new FetchProgress(), counters);
        assertEquals(size(h.files(), some), counters.snapshot().receivedBytes());
        assertSameTensors(h.files(), f.cache().store(), some);
        // and the cache directory is a (partial) model directory of its own: config.json, index, one file a tensor
        try (ModelFiles cached = ModelFiles.open(f.cache().dir())) {
            assertEquals(h.files().config(), cached.config());
            assertEquals(Set.copyOf(some), cached.store().names());
        }
    }

    @Test
    void aFetchCutShortResumesFromTheBytesKeptNotFromTheStart() {
        Holders.Holder dying = holders.start("dying", model, Holders.Fault.DIE_AFTER_THREE_CHUNKS);
        String tensor = "token_embd.weight"; // 128 KiB: many chunks
        Path cache = dir.resolve("cache");
        WeightFetcher f = fetcher("f1", cache, dying.digest(), List.of(dying));
        WeightCounters first = new WeightCounters();
        WeightFetchException e = assertThrows(WeightFetchException.class,
                () -> f.provide(List.of(tensor), new FetchProgress(), first));
        assertTrue(e.getMessage().contains("every holder failed"), e.getMessage());
        long kept = first.snapshot().receivedBytes();
        assertEquals(3L * Holders.CHUNK, kept, "three chunks arrived before the holder died");
        assertEquals(kept, f.cache().partialBytes(tensor));
        f.close();
        fetchers.remove(f);

        // the node restarts and a healthy holder is there: only the rest travels
        Holders.Holder healthy = holders.start("healthy", model);
        WeightFetcher again = fetcher("f1", cache, healthy.digest(), List.of(healthy));
        WeightCounters second = new WeightCounters();
        FetchProgress progress = new FetchProgress();
        again.provide(List.of(tensor), progress, second);
        long size = size(healthy.files(), List.of(tensor));
        assertEquals(size - kept, second.snapshot().receivedBytes(), "received after resuming");
        assertEquals(size - kept, healthy.counters().snapshot().servedBytes());
        assertEquals(size, progress.doneBytes());
        assertSameTensors(healthy.files(), again.cache().store(), List.of(tensor));
    }

    @Test
    void aHolderThatDiesMidStreamIsContinuedByAnotherFromTheSameByte() {
        Holders.Holder dying = holders.start("dying", model, Holders.Fault.DIE_AFTER_THREE_CHUNKS);
        Holders.Holder healthy = holders.start("healthy", model);
        List<Holders.Holder> both = List.of(dying, healthy);
        WeightFetcher f = fetcher(idAskingFirst(dying, both), dir.resolve("cache"), dying.digest(), both);
        WeightCounters counters = new WeightCounters();
        f.provide(SOME, new FetchProgress(), counters);
        long total = size(healthy.files(), SOME);
        assertEquals(total, counters.snapshot().receivedBytes(), "no byte received twice");
        assertEquals(total - 3L * Holders.CHUNK, healthy.counters().snapshot().servedBytes());
        assertSameTensors(healthy.files(), f.cache().store(), SOME);
        assertTrue(log.stream().anyMatch(l -> l.contains("holder dying") && l.contains("failed")), log.toString());
    }

    @Test
    void aCorruptChunkIsCaughtAndTheTensorFetchedAgainFromAnotherHolder() {
        Holders.Holder bad = holders.start("bad", model, Holders.Fault.CORRUPT_THIRD_CHUNK);
        Holders.Holder good = holders.start("good", model);
        List<Holders.Holder> both = List.of(bad, good);
        WeightFetcher f = fetcher(idAskingFirst(bad, both), dir.resolve("cache"), bad.digest(), both);
        WeightCounters counters = new WeightCounters();
        String tensor = "token_embd.weight";
        f.provide(List.of(tensor), new FetchProgress(), counters);
        long size = size(good.files(), List.of(tensor));
        assertEquals(2 * size, counters.snapshot().receivedBytes(), "received once corrupt, once good");
        assertEquals(1, counters.snapshot().receivedTensors());
        assertEquals(size, good.counters().snapshot().servedBytes(), "the retry went to the other holder");
        assertSameTensors(good.files(), f.cache().store(), List.of(tensor));
        assertTrue(log.stream().anyMatch(l -> l.contains("failed its SHA-256 check")), log.toString());
    }

    @Test
    void aCorruptChunkWithNoOtherHolderFailsTheFetchNamingTensorAndHashes() {
        Holders.Holder bad = holders.start("bad", model, Holders.Fault.CORRUPT_THIRD_CHUNK);
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), bad.digest(), List.of(bad));
        String tensor = "token_embd.weight";
        WeightFetchException e = assertThrows(WeightFetchException.class,
                () -> f.provide(List.of(tensor), new FetchProgress(), new WeightCounters()));
        String good = Holders.sha256(Holders.bytesOf(bad.files(), tensor));
        assertTrue(e.getMessage().contains(tensor) && e.getMessage().contains("SHA-256")
                && e.getMessage().contains(good) && e.getMessage().contains("no other holder"), e.getMessage());
        assertEquals(0, f.cache().partialBytes(tensor), "nothing of the corrupt tensor is kept");
        assertThrows(IllegalStateException.class, () -> f.cache().store().find(tensor));
    }

    @Test
    void twoCorruptHoldersFailTheFetchAfterOneRetry() {
        Holders.Holder a = holders.start("bad-a", model, Holders.Fault.CORRUPT_THIRD_CHUNK);
        Holders.Holder b = holders.start("bad-b", model, Holders.Fault.CORRUPT_THIRD_CHUNK);
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), a.digest(), List.of(a, b));
        WeightFetchException e = assertThrows(WeightFetchException.class,
                () -> f.provide(List.of("token_embd.weight"), new FetchProgress(), new WeightCounters()));
        assertTrue(e.getMessage().contains("twice") && e.getMessage().contains("bad-a")
                && e.getMessage().contains("bad-b"), e.getMessage());
    }

    @Test
    void aRestartedNodeReusesItsCacheAfterCheckingItAndFetchesWhatFailsTheCheck() throws Exception {
        Holders.Holder h = holders.start("h1", model);
        Path cache = dir.resolve("cache");
        WeightFetcher f = fetcher("f1", cache, h.digest(), List.of(h));
        f.provide(SOME, new FetchProgress(), new WeightCounters());
        f.close();
        fetchers.remove(f);

        WeightFetcher again = fetcher("f1", cache, h.digest(), List.of(h));
        WeightCounters counters = new WeightCounters();
        again.provide(SOME, new FetchProgress(), counters);
        assertEquals(0, counters.snapshot().receivedBytes(), "nothing fetched again");
        assertEquals(3, counters.snapshot().cachedTensors());
        assertEquals(size(h.files(), SOME), counters.snapshot().cachedBytes());
        assertSameTensors(h.files(), again.cache().store(), SOME);
        again.close();
        fetchers.remove(again);

        // a flipped byte in one cached tensor (disk rot): that tensor alone is fetched again
        String rotten = "blk.0.attn_k.weight";
        Path file = again.cache().file(rotten);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            long at = raf.length() - 5;
            raf.seek(at);
            int b = raf.read();
            raf.seek(at);
            raf.write(b ^ 1);
        }
        WeightFetcher third = fetcher("f1", cache, h.digest(), List.of(h));
        WeightCounters c3 = new WeightCounters();
        third.provide(SOME, new FetchProgress(), c3);
        assertEquals(size(h.files(), List.of(rotten)), c3.snapshot().receivedBytes());
        assertEquals(2, c3.snapshot().cachedTensors());
        assertSameTensors(h.files(), third.cache().store(), SOME);
    }

    @Test
    void oneCacheServesOneNodeAtATime() {
        Holders.Holder h = holders.start("h1", model);
        Path cache = dir.resolve("cache");
        fetcher("f1", cache, h.digest(), List.of(h));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> fetcher("f2", cache, h.digest(), List.of(h)));
        assertTrue(e.getMessage().contains("in use"), e.getMessage());
    }

    @Test
    void aNodeWithNoHolderOrAnotherModelsHolderSaysSo() {
        Holders.Holder h = holders.start("h1", model);
        WeightFetchException none = assertThrows(WeightFetchException.class,
                () -> fetcher("f1", dir.resolve("c1"), h.digest(), List.of()));
        assertTrue(none.getMessage().contains("no peer holds"), none.getMessage());
        WeightFetchException other = assertThrows(WeightFetchException.class,
                () -> fetcher("f1", dir.resolve("c2"), "ab".repeat(32), List.of(h)));
        assertTrue(other.getMessage().contains("FAILED_PRECONDITION") || other.getMessage().contains("serves model"),
                other.getMessage());
        assertTrue(Files.notExists(dir.resolve("c2").resolve("ab".repeat(32))), "nothing cached for a model no one"
                + " described");
    }

    // ---- slices of stacked expert tensors

    static final String UP = "blk.1.ffn_up_exps.weight";
    static final String DOWN = "blk.1.ffn_down_exps.weight";

    /** Bytes of slice {@code e} of a stacked tensor, by the model's own {@code Tensor.slice} of the file. */
    static byte[] sliceOf(ModelFiles files, String name, int e) {
        return files.store().get(name).slice(e).data().toArray(ValueLayout.JAVA_BYTE);
    }

    static long sliceSize(ModelFiles files, String name) {
        return files.store().get(name).slice(0).data().byteSize();
    }

    /** The store's stacked tensor has the file's shape, and the given experts' slices hold the file's bytes. */
    static void assertSameSlices(ModelFiles files, WeightStore store, String name, int... experts) {
        Tensor actual = store.get(name);
        assertArrayEquals(files.store().get(name).shape(), actual.shape(), name);
        for (int e : experts) {
            assertArrayEquals(sliceOf(files, name, e), actual.slice(e).data().toArray(ValueLayout.JAVA_BYTE),
                    "expert " + e + " of " + name);
        }
    }

    @Test
    void aNodeHoldingSomeExpertsReceivesOnlyTheirSlicesAndReadsThemAsTheFileHasThem() {
        Holders.Holder h = holders.start("h1", model);
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), h.digest(), List.of(h));
        WeightCounters counters = new WeightCounters();
        FetchProgress progress = new FetchProgress();
        f.provide(List.of(UP + "[3]", "blk.0.attn_k.weight", DOWN + "[2]", UP + "[2]"), progress, counters);

        long slice = sliceSize(h.files(), UP);
        assertEquals(sliceSize(h.files(), DOWN), slice);
        long expected = 3 * slice + size(h.files(), List.of("blk.0.attn_k.weight"));
        assertTrue(2 * slice < size(h.files(), List.of(UP)), "two slices are less than the stacked tensor");
        assertEquals(expected, counters.snapshot().receivedBytes(), "exactly the slices and the whole tensor");
        assertEquals(expected, h.counters().snapshot().servedBytes());
        assertEquals(expected, progress.doneBytes());
        assertEquals(3, counters.snapshot().receivedTensors(), "distinct tensors, however many slices of each");
        assertSameSlices(h.files(), f.cache().store(), UP, 2, 3);
        assertSameSlices(h.files(), f.cache().store(), DOWN, 2);
        assertEquals(2 * slice, f.cache().checkedBytes(UP));
        assertEquals(2 * slice, counters.heldBytes(UP, -1), "the node's store counts the slices it has, not the tensor");
        assertEquals(slice, counters.heldBytes(DOWN, -1));

        // the next assignment holds one more expert: only its slice travels, into the file already mapped
        Tensor mapped = f.cache().store().get(UP);
        WeightCounters next = new WeightCounters();
        f.provide(List.of(UP + "[2]", UP + "[3]", UP + "[0]"), new FetchProgress(), next);
        assertEquals(slice, next.snapshot().receivedBytes());
        assertArrayEquals(sliceOf(h.files(), UP, 0), mapped.slice(0).data().toArray(ValueLayout.JAVA_BYTE),
                "a tensor handed out before sees the slice written since");
        assertSameSlices(h.files(), f.cache().store(), UP, 0, 2, 3);
    }

    @Test
    void aCorruptSliceIsCaughtAndFetchedAgainFromAnotherHolder() {
        Holders.Holder bad = holders.start("bad", model, Holders.Fault.CORRUPT_THIRD_CHUNK);
        Holders.Holder good = holders.start("good", model);
        List<Holders.Holder> both = List.of(bad, good);
        WeightFetcher f = fetcher(idAskingFirst(bad, both), dir.resolve("cache"), bad.digest(), both);
        WeightCounters counters = new WeightCounters();
        long slice = sliceSize(good.files(), UP);
        assertTrue(slice > 3 * Holders.CHUNK, "the third chunk falls inside the slice");
        f.provide(List.of(UP + "[3]"), new FetchProgress(), counters);
        assertEquals(2 * slice, counters.snapshot().receivedBytes(), "received once corrupt, once good");
        assertEquals(slice, good.counters().snapshot().servedBytes(), "the retry went to the other holder");
        assertSameSlices(good.files(), f.cache().store(), UP, 3);
        assertTrue(log.stream().anyMatch(l -> l.contains("slice 3 of tensor '" + UP + "'")
                && l.contains("failed its SHA-256 check")), log.toString());
    }

    @Test
    void aCorruptSliceWithNoOtherHolderFailsNamingTheSliceAndKeepsNothing() {
        Holders.Holder bad = holders.start("bad", model, Holders.Fault.CORRUPT_THIRD_CHUNK);
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), bad.digest(), List.of(bad));
        WeightFetchException e = assertThrows(WeightFetchException.class,
                () -> f.provide(List.of(UP + "[1]"), new FetchProgress(), new WeightCounters()));
        String good = Holders.sha256(sliceOf(bad.files(), UP, 1));
        assertTrue(e.getMessage().contains("slice 1 of tensor '" + UP + "'") && e.getMessage().contains(good)
                && e.getMessage().contains("no other holder"), e.getMessage());
        assertEquals(0, f.cache().partialBytes(UP + "[1]"));
        assertEquals(TensorCache.State.ABSENT, f.cache().state(f.cache().manifest().index().piece(UP + "[1]")));
        assertThrows(IllegalStateException.class, () -> f.cache().store().find(UP));
    }

    @Test
    void aSliceCutShortResumesFromTheBytesKept() {
        Holders.Holder dying = holders.start("dying", model, Holders.Fault.DIE_AFTER_THREE_CHUNKS);
        Path cache = dir.resolve("cache");
        WeightFetcher f = fetcher("f1", cache, dying.digest(), List.of(dying));
        WeightCounters first = new WeightCounters();
        assertThrows(WeightFetchException.class, () -> f.provide(List.of(DOWN + "[3]"), new FetchProgress(), first));
        assertEquals(3L * Holders.CHUNK, first.snapshot().receivedBytes());
        assertEquals(3L * Holders.CHUNK, f.cache().partialBytes(DOWN + "[3]"));
        f.close();
        fetchers.remove(f);

        Holders.Holder healthy = holders.start("healthy", model);
        WeightFetcher again = fetcher("f1", cache, healthy.digest(), List.of(healthy));
        WeightCounters second = new WeightCounters();
        again.provide(List.of(DOWN + "[3]"), new FetchProgress(), second);
        long slice = sliceSize(healthy.files(), DOWN);
        assertEquals(slice - 3L * Holders.CHUNK, second.snapshot().receivedBytes(), "only the rest travels");
        assertEquals(slice - 3L * Holders.CHUNK, healthy.counters().snapshot().servedBytes());
        assertSameSlices(healthy.files(), again.cache().store(), DOWN, 3);
    }

    @Test
    void aRestartReusesCheckedSlicesAndFetchesOnlyARottenOne() throws Exception {
        Holders.Holder h = holders.start("h1", model);
        Path cache = dir.resolve("cache");
        List<String> keys = List.of(UP + "[1]", UP + "[3]");
        WeightFetcher f = fetcher("f1", cache, h.digest(), List.of(h));
        f.provide(keys, new FetchProgress(), new WeightCounters());
        f.close();
        fetchers.remove(f);

        WeightFetcher again = fetcher("f1", cache, h.digest(), List.of(h));
        WeightCounters reused = new WeightCounters();
        again.provide(keys, new FetchProgress(), reused);
        long slice = sliceSize(h.files(), UP);
        assertEquals(0, reused.snapshot().receivedBytes());
        assertEquals(2, reused.snapshot().cachedTensors());
        assertEquals(2 * slice, reused.snapshot().cachedBytes());
        assertSameSlices(h.files(), again.cache().store(), UP, 1, 3);
        again.close();
        fetchers.remove(again);

        // a flipped byte inside slice 3's bytes in the file: that slice alone travels again
        Path file = again.cache().file(UP);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            long at = again.cache().header(UP).length + 3 * slice + 11;
            raf.seek(at);
            int b = raf.read();
            raf.seek(at);
            raf.write(b ^ 1);
        }
        WeightFetcher third = fetcher("f1", cache, h.digest(), List.of(h));
        WeightCounters c3 = new WeightCounters();
        third.provide(keys, new FetchProgress(), c3);
        assertEquals(slice, c3.snapshot().receivedBytes());
        assertEquals(1, c3.snapshot().cachedTensors());
        assertSameSlices(h.files(), third.cache().store(), UP, 1, 3);
    }

    @Test
    void aTensorCachedWholeServesItsSlicesWithoutAFetch() {
        Holders.Holder h = holders.start("h1", model);
        Path cache = dir.resolve("cache");
        WeightFetcher f = fetcher("f1", cache, h.digest(), List.of(h));
        f.provide(List.of(UP), new FetchProgress(), new WeightCounters());
        f.close();
        fetchers.remove(f);
        WeightFetcher again = fetcher("f1", cache, h.digest(), List.of(h));
        WeightCounters counters = new WeightCounters();
        again.provide(List.of(UP + "[0]", UP + "[3]"), new FetchProgress(), counters);
        assertEquals(0, counters.snapshot().receivedBytes());
        assertSameSlices(h.files(), again.cache().store(), UP, 0, 3);
    }

    // ---- the cache's bound

    WeightFetcher fetcher(String id, Path cache, String digest, Holders.Holder from, long limit) {
        WeightFetcher f = WeightFetcher.open(cache, id, digest, WeightHolders.of(List.of(from.endpoint())),
                new WeightFetcher.Settings(IDLE, IDLE, limit), log::add);
        fetchers.add(f);
        return f;
    }

    static void age(TensorCache cache, String tensor, Duration ago) throws Exception {
        try (var files = Files.list(cache.dir())) {
            for (Path p : (Iterable<Path>) files::iterator) {
                if (p.getFileName().toString().startsWith(cache.file(tensor).getFileName().toString())) {
                    Files.setLastModifiedTime(p, java.nio.file.attribute.FileTime.fromMillis(
                            System.currentTimeMillis() - ago.toMillis()));
                }
            }
        }
    }

    @Test
    void pruningEvictsTheLeastRecentlyUsedTensorsButNeverOnesInUse() throws Exception {
        Holders.Holder h = holders.start("h1", model);
        String embd = "token_embd.weight";
        String k = "blk.0.attn_k.weight";
        String q = "blk.0.attn_q.weight";
        String v = "blk.0.attn_v.weight";
        long small = size(h.files(), List.of(k));
        assertEquals(small, size(h.files(), List.of(v)));
        assertEquals(2 * small, size(h.files(), List.of(q)));
        // room for the big embedding and three small tensors' bytes (headers fit in the slack), not four
        long limit = size(h.files(), List.of(embd)) + 3 * small + 4096;
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), h.digest(), h, limit);
        TensorCache c = f.cache();
        f.provide(List.of(embd), new FetchProgress(), new WeightCounters());
        f.provide(List.of(k), new FetchProgress(), new WeightCounters());
        f.provide(List.of(v), new FetchProgress(), new WeightCounters());
        c.store().get(embd); // mapped: in use by a serving part
        age(c, embd, Duration.ofHours(3));
        age(c, k, Duration.ofHours(2));
        age(c, v, Duration.ofHours(1));

        // q does not fit beside the other three: the oldest tensor not in use goes (k), not the older embedding
        f.provide(List.of(q), new FetchProgress(), new WeightCounters());
        assertTrue(Files.exists(c.file(embd)), "in use: kept although least recently used");
        assertTrue(Files.notExists(c.file(k)), "least recently used of those not in use");
        assertTrue(Files.exists(c.file(v)));
        assertTrue(Files.exists(c.file(q)));
        assertTrue(log.stream().anyMatch(l -> l.contains("removed 1 tensor(s)")), log.toString());
        assertThrows(IllegalStateException.class, () -> c.store().find(k), "an evicted tensor is not readable");

        // an assignment that alone is over the limit is loaded all the same, and what is in use stays
        WeightFetcher tight = f;
        tight.provide(List.of(k, v, q), new FetchProgress(), new WeightCounters());
        assertTrue(Files.exists(c.file(embd)) && Files.exists(c.file(k)) && Files.exists(c.file(v))
                && Files.exists(c.file(q)));
        assertSameTensors(h.files(), c.store(), List.of(embd, k, v, q));
        assertTrue(log.stream().anyMatch(l -> l.contains("all of it in use")), log.toString());
    }

    @Test
    void pruningCountsSlicesAsTheirBytesAndKeepsTheAssignmentsSlices() throws Exception {
        Holders.Holder h = holders.start("h1", model);
        long slice = sliceSize(h.files(), UP);
        String embd = "token_embd.weight";
        // the embedding and two slices fit; the stacked tensor's full length (its holes) would not
        long limit = size(h.files(), List.of(embd)) + 3 * slice + 4096;
        assertTrue(limit < size(h.files(), List.of(embd, UP)), "the holes must not count");
        WeightFetcher f = fetcher("f1", dir.resolve("cache"), h.digest(), h, limit);
        f.provide(List.of(embd), new FetchProgress(), new WeightCounters());
        f.provide(List.of(UP + "[0]", UP + "[1]"), new FetchProgress(), new WeightCounters());
        assertTrue(Files.exists(f.cache().file(embd)), "nothing over the limit: nothing removed");
        // a third and fourth slice no longer fit beside the embedding, which is not in use: it goes
        f.provide(List.of(UP + "[0]", UP + "[1]", UP + "[2]", UP + "[3]"), new FetchProgress(), new WeightCounters());
        assertTrue(Files.notExists(f.cache().file(embd)));
        assertSameSlices(h.files(), f.cache().store(), UP, 0, 1, 2, 3);
    }

    @Test
    void pruningRemovesOtherModelsCachesUnlessANodeHasThemOpen() throws Exception {
        Holders.Holder h = holders.start("h1", model);
        Path root = dir.resolve("cache");
        Path stale = root.resolve("ab".repeat(32));
        Path open = root.resolve("cd".repeat(32));
        for (Path d : List.of(stale, open)) {
            Files.createDirectories(d);
            Files.write(d.resolve("token_embd.weight.gguf"), new byte[64 << 10]);
        }
        try (var ch = java.nio.channels.FileChannel.open(open.resolve(".lock"), java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE); var held = ch.lock()) {
            WeightFetcher f = fetcher("f1", root, h.digest(), h, 64 << 10);
            f.provide(List.of("blk.0.attn_k.weight"), new FetchProgress(), new WeightCounters());
            assertTrue(Files.notExists(stale), "another model's cache nobody has open is removed first");
            assertTrue(Files.exists(open.resolve("token_embd.weight.gguf")), "one a node has open is left alone");
            assertTrue(Files.exists(f.cache().file("blk.0.attn_k.weight")));
            assertTrue(log.stream().anyMatch(l -> l.contains("1 other model(s)")), log.toString());
        }
    }

    @Test
    void filesThatAreNoTensorOfTheModelArePrunedWhenTheCacheOpens() throws Exception {
        Holders.Holder h = holders.start("h1", model);
        Path root = dir.resolve("cache");
        WeightFetcher f = fetcher("f1", root, h.digest(), List.of(h));
        f.provide(List.of("blk.0.attn_k.weight"), new FetchProgress(), new WeightCounters());
        Path cacheDir = f.cache().dir();
        f.close();
        fetchers.remove(f);
        Path stray = cacheDir.resolve("blk.99.attn_k.weight.gguf");
        Path orphan = cacheDir.resolve("blk.0.attn_q.weight.gguf.slices");
        Files.write(stray, new byte[100]);
        Files.write(orphan, new byte[10]);
        WeightFetcher again = fetcher("f1", root, h.digest(), List.of(h));
        assertTrue(Files.notExists(stray) && Files.notExists(orphan));
        assertTrue(Files.exists(again.cache().file("blk.0.attn_k.weight")));
    }
}
