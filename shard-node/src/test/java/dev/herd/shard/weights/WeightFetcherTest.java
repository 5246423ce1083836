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
}
