package dev.herd.model.safetensors;

import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;
import dev.herd.model.weights.WeightStore;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A Hugging Face model directory of safetensors weights, looked for in the order transformers does:
 * {@code model.safetensors}; else {@code model.safetensors.index.json} with its {@code weight_map}
 * (tensor to shard file); else exactly one {@code *.safetensors} file.
 *
 * <p>Shards are mapped lazily, on the first {@link #find(String)} of a tensor they hold (an FP8 weight's scale
 * may pull in a second shard), so a node serving a few layers maps only the files holding them;
 * {@link #openedFiles()} tells which were. {@link #open(Path)} checks that every shard the index names exists
 * but maps none of them (a single-file directory maps its one file).
 *
 * <p>With an index, the index is the truth: {@link #names()} is its weight map's keys, and a tensor a shard
 * holds without the index listing it is ignored (it cannot be found without mapping every shard, which is
 * what the index is there to avoid). When a shard is mapped, every tensor the index assigns to it must be
 * in it, or the shard is refused with an error naming the tensor and the shard.
 */
public final class SafetensorsDirectory implements WeightStore {
    private final Path dir;
    /** tensor name to shard file, in the index's order. */
    private final Map<String, Path> weightMap;
    private final Map<Path, SafetensorsFile> opened = new ConcurrentHashMap<>();
    private final Map<String, Tensor> fp8 = new ConcurrentHashMap<>();
    /** Holds FP8 scales converted to f32 (tiny); closed with the store. */
    private final Arena derived = Arena.ofShared();
    private volatile boolean closed;

    private SafetensorsDirectory(Path dir, Map<String, Path> weightMap) {
        this.dir = dir;
        this.weightMap = Collections.unmodifiableMap(weightMap);
    }

    /** Opens a model directory; maps no shard of a sharded model yet. */
    public static SafetensorsDirectory open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelFormatException(dir + ": not a directory");
        }
        Path single = dir.resolve("model.safetensors");
        if (Files.isRegularFile(single)) {
            return ofSingleFile(dir, single);
        }
        Path indexFile = dir.resolve(ShardIndex.FILE_NAME);
        if (Files.isRegularFile(indexFile)) {
            ShardIndex index = ShardIndex.read(indexFile);
            Map<String, Path> weightMap = new LinkedHashMap<>();
            Set<String> missing = new TreeSet<>();
            for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
                Path shard = dir.resolve(e.getValue());
                if (!Files.isRegularFile(shard)) {
                    missing.add(e.getValue());
                }
                weightMap.put(e.getKey(), shard);
            }
            if (!missing.isEmpty()) {
                throw new ModelFormatException(indexFile + ": shard file(s) " + missing + " named in the index are "
                        + "missing from " + dir);
            }
            return new SafetensorsDirectory(dir, weightMap);
        }
        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.safetensors")) {
            for (Path p : files) {
                if (Files.isRegularFile(p)) {
                    candidates.add(p);
                }
            }
        } catch (IOException e) {
            throw new ModelFormatException(dir + ": cannot list directory: " + e, e);
        }
        if (candidates.size() != 1) {
            throw new ModelFormatException(dir + ": no model.safetensors, no " + ShardIndex.FILE_NAME + ", and "
                    + (candidates.isEmpty() ? "no *.safetensors file"
                    : candidates.size() + " *.safetensors files without an index to say which tensor is where"));
        }
        return ofSingleFile(dir, candidates.getFirst());
    }

    private static SafetensorsDirectory ofSingleFile(Path dir, Path file) {
        SafetensorsFile f = SafetensorsFile.open(file);
        Map<String, Path> weightMap = new LinkedHashMap<>();
        for (String name : f.names()) {
            weightMap.put(name, file);
        }
        SafetensorsDirectory d = new SafetensorsDirectory(dir, weightMap);
        d.opened.put(file, f);
        return d;
    }

    /** The index's tensor names (or the single file's), without mapping anything. */
    @Override
    public Set<String> names() {
        return weightMap.keySet();
    }

    /** The shard file that holds {@code name} according to the index. */
    public Optional<Path> fileOf(String name) {
        return Optional.ofNullable(weightMap.get(name));
    }

    /** Every distinct shard file, in the index's order. */
    public Set<Path> files() {
        return Collections.unmodifiableSet(new LinkedHashSet<>(weightMap.values()));
    }

    /** The shard files mapped so far. */
    public Set<Path> openedFiles() {
        return Set.copyOf(opened.keySet());
    }

    @Override
    public Optional<Tensor> find(String name) {
        Optional<Fp8Scales.Raw> raw = raw(name);
        if (raw.isEmpty()) {
            return Optional.empty();
        }
        if (raw.get().entry().knownDtype().orElse(null) == SafetensorsDtype.F8_E4M3) {
            return Optional.of(fp8.computeIfAbsent(name, n -> SafetensorsFile.tensor(raw.get(), this::raw, derived)));
        }
        return Optional.of(SafetensorsFile.tensor(raw.get(), this::raw, derived));
    }

    /** What the shard's header says about {@code name}, mapping the shard if needed. */
    public Optional<TensorEntry> entry(String name) {
        return raw(name).map(Fp8Scales.Raw::entry);
    }

    /** The stored bytes of a tensor of any element type (see {@link SafetensorsFile#bytes(String)}). */
    public Optional<MemorySegment> bytes(String name) {
        return raw(name).map(Fp8Scales.Raw::data);
    }

    private Optional<Fp8Scales.Raw> raw(String name) {
        Path shard = weightMap.get(name);
        if (shard == null) {
            return Optional.empty();
        }
        return shard(shard).raw(name);
    }

    private SafetensorsFile shard(Path file) {
        SafetensorsFile f = opened.get(file);
        if (f != null) {
            return f;
        }
        synchronized (this) { // one thread maps a shard; the others wait for it rather than map it twice
            if (closed) {
                throw new IllegalStateException(dir + " is closed");
            }
            f = opened.get(file);
            if (f == null) {
                f = SafetensorsFile.open(file);
                try {
                    checkShard(file, f);
                } catch (RuntimeException e) {
                    f.close();
                    throw e;
                }
                opened.put(file, f);
            }
            return f;
        }
    }

    private void checkShard(Path file, SafetensorsFile f) {
        for (Map.Entry<String, Path> e : weightMap.entrySet()) {
            if (e.getValue().equals(file) && f.entry(e.getKey()).isEmpty()) {
                throw new ModelFormatException(dir.resolve(ShardIndex.FILE_NAME) + ": maps tensor '" + e.getKey()
                        + "' to shard " + file.getFileName() + ", which does not contain it");
            }
        }
    }

    @Override
    public String describe() {
        return dir.toString();
    }

    /** Unmaps every shard mapped so far and frees converted scales. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (SafetensorsFile f : opened.values()) {
            f.close();
        }
        derived.close();
    }

    @Override
    public String toString() {
        return "SafetensorsDirectory[" + dir + ", " + weightMap.size() + " tensors, " + files().size() + " files, "
                + opened.size() + " mapped]";
    }
}
