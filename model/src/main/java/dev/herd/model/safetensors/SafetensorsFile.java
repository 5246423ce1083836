package dev.herd.model.safetensors;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;
import dev.herd.model.weights.WeightStore;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One memory-mapped safetensors file (format and checks: {@link SafetensorsHeader}). Tensors are views of the
 * mapping; nothing is copied onto the heap. F32, F16, BF16 and F8_E4M3 tensors are readable; other element
 * types are listed by {@link #names()} and described by {@link #entry(String)}, but {@link #find(String)} on
 * them fails, since real checkpoints carry such buffers (e.g. int64 position ids) that Herd never computes with.
 * An F8_E4M3 tensor comes with its scale found beside it (see {@link Fp8Scales}).
 *
 * <p>Thread-safe; the mapping lives in a shared arena so tensors can be used from any thread until
 * {@link #close()}.
 */
public final class SafetensorsFile implements WeightStore {
    private final Path path;
    private final Arena arena;
    private final MemorySegment mapped;
    private final SafetensorsHeader header;
    private final Map<String, Tensor> fp8 = new ConcurrentHashMap<>();

    private SafetensorsFile(Path path, Arena arena, MemorySegment mapped, SafetensorsHeader header) {
        this.path = path;
        this.arena = arena;
        this.mapped = mapped;
        this.header = header;
    }

    /** Maps {@code path} and validates its header; a {@link ModelFormatException} naming the file otherwise. */
    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                SafetensorsHeader.headerLength(path.toString(), size, new byte[0]); // throws with the reason
            }
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            byte[] prefix = mapped.asSlice(0, 8).toArray(ValueLayout.JAVA_BYTE);
            long n = SafetensorsHeader.headerLength(path.toString(), size, prefix);
            byte[] json = mapped.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
            SafetensorsHeader header = SafetensorsHeader.parse(path.toString(), json, size);
            return new SafetensorsFile(path, arena, mapped, header);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path + ": cannot map safetensors file: " + e, e);
        } catch (RuntimeException e) {
            arena.close(); // never leave a half-opened file mapped
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    public SafetensorsHeader header() {
        return header;
    }

    /** The file's {@code __metadata__} (empty when it has none). */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** What the header says about a tensor, for any element type. */
    public Optional<TensorEntry> entry(String name) {
        return Optional.ofNullable(header.entries().get(name));
    }

    @Override
    public Set<String> names() {
        return header.entries().keySet();
    }

    @Override
    public Optional<Tensor> find(String name) {
        Optional<Fp8Scales.Raw> raw = raw(name);
        if (raw.isEmpty()) {
            return Optional.empty();
        }
        if (raw.get().entry().knownDtype().orElse(null) == SafetensorsDtype.F8_E4M3) {
            return Optional.of(fp8.computeIfAbsent(name, n -> tensor(raw.get(), this::raw, arena)));
        }
        return Optional.of(tensor(raw.get(), this::raw, arena));
    }

    /**
     * The stored bytes of a tensor of any element type, as a view of the mapping (e.g. to send a tensor to a peer
     * or copy it into another file unchanged).
     */
    public Optional<MemorySegment> bytes(String name) {
        return raw(name).map(Fp8Scales.Raw::data);
    }

    /**
     * Names under which an FP8 weight's scale may be stored beside it, in the order they are looked for: whoever
     * moves an FP8 weight must move its scale too.
     */
    public static List<String> scaleNames(String weight) {
        return Fp8Scales.candidates(weight);
    }

    /** A tensor's entry with a view of its bytes. */
    Optional<Fp8Scales.Raw> raw(String name) {
        TensorEntry e = header.entries().get(name);
        if (e == null) {
            return Optional.empty();
        }
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException(path + " is closed");
        }
        MemorySegment data = mapped.asSlice(header.dataStart() + e.begin(), e.byteSize());
        return Optional.of(new Fp8Scales.Raw(e, data, path.toString()));
    }

    /**
     * The {@link Tensor} for a raw entry; FP8 scales are looked up through {@code lookup} (they may live in
     * another file) and any converted scale is allocated in {@code arena}.
     */
    static Tensor tensor(Fp8Scales.Raw raw, Fp8Scales.Lookup lookup, Arena arena) {
        TensorEntry e = raw.entry();
        String where = raw.source() + ": tensor '" + e.name() + "'";
        DType type = e.knownDtype().map(SafetensorsDtype::herdType).orElse(null);
        if (type == null) {
            throw new ModelFormatException(where + " has dtype " + e.dtype()
                    + ", which Herd does not compute with (it reads F32, F16, BF16 and F8_E4M3)");
        }
        if (e.elementCount() == 0) {
            throw new ModelFormatException(where + " has no elements (shape " + Arrays.toString(e.shape()) + ")");
        }
        Tensor scale = type == DType.F8_E4M3 ? Fp8Scales.scaleFor(raw, lookup, arena) : null;
        try {
            return new Tensor(e.name(), type, e.shape(), raw.data(), scale);
        } catch (IllegalArgumentException invalid) {
            // the header was validated, so this only restates Tensor's own checks as a format error
            throw new ModelFormatException(where + ": " + invalid.getMessage(), invalid);
        }
    }

    @Override
    public String describe() {
        return path.toString();
    }

    /** Unmaps the file and frees converted scales; tensors handed out become invalid. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + header.entries().size() + " tensors]";
    }
}
