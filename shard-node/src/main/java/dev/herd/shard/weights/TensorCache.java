package dev.herd.shard.weights;

import com.google.protobuf.ByteString;
import dev.herd.kernels.Tensor;
import dev.herd.model.config.GgufConfigReader;
import dev.herd.model.config.HfConfigReader;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.gguf.GgufFile;
import dev.herd.model.safetensors.SafetensorsDirectory;
import dev.herd.model.safetensors.ShardIndex;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelFormatException;
import dev.herd.model.weights.WeightStore;
import dev.herd.shard.ModelDigest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Tensors fetched from peers, on local disk under {@code <root>/<model digest>/}, readable by the model's own
 * format reader: one file per tensor, itself a valid single-tensor safetensors file (Hugging Face models, listed
 * in a {@code model.safetensors.index.json} beside the fetched {@code config.json}, so the directory opens like a
 * sharded checkpoint, FP8 scales found across files) or a single-tensor GGUF file (GGUF models, beside a
 * {@code metadata.gguf} holding the model's metadata). A file per tensor because that is what makes a fetch
 * resumable and a cache reusable across plans: a tensor is received into {@code <file>.part} after its header, so
 * the bytes kept are the file's length; it becomes {@code <file>} (with its SHA-256 in {@code <file>.sha256})
 * only after its checksum matched.
 *
 * <p>A tensor is readable through {@link #store()} only once it has been checked in this process: received and
 * matched, or found complete and hashed again ({@link #reuse}). The directory is locked while open, so two
 * processes never write one cache.
 */
public final class TensorCache implements AutoCloseable {
    static final String PART = ".part";
    static final String SHA = ".sha256";
    private static final String TMP = ".tmp";
    private static final String GGUF_METADATA = "metadata.gguf";
    private static final String LOCK = ".lock";

    /** Where a tensor stands in the cache. */
    public enum State { ABSENT, PARTIAL, STORED, VERIFIED }

    private final Path dir;
    private final ModelManifest manifest;
    private final ModelConfig config;
    private final FileChannel lockFile;
    private final FileLock lock;
    private final Set<String> verified = ConcurrentHashMap.newKeySet();
    private final Map<String, GgufFile> ggufs = new ConcurrentHashMap<>();
    private final List<SafetensorsDirectory> directories = new ArrayList<>();
    private volatile SafetensorsDirectory directory;
    private final Store store = new Store();
    private boolean closed;

    private TensorCache(Path dir, ModelManifest manifest, ModelConfig config, FileChannel lockFile, FileLock lock) {
        this.dir = dir;
        this.manifest = manifest;
        this.config = config;
        this.lockFile = lockFile;
        this.lock = lock;
    }

    /** {@code ~/.cache/herd/weights} under the given home directory. */
    public static Path defaultRoot(Path home) {
        return home.resolve(".cache").resolve("herd").resolve("weights");
    }

    /**
     * Opens (creating) the cache of the manifest's model under {@code root}: writes the config files the
     * manifest carries, reads the config from them and checks that config and tensor index give the manifest's
     * digest, so a holder describing another model than it was asked for is caught before anything is fetched.
     *
     * @throws ModelFormatException naming the holder's files when they do not describe the digest's model
     * @throws IllegalStateException when another process has this cache open
     */
    public static TensorCache open(Path root, ModelManifest manifest) {
        if (!manifest.digest().matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("not a model digest: '" + manifest.digest() + "'");
        }
        Path dir = root.resolve(manifest.digest());
        FileChannel lockFile = null;
        try {
            Files.createDirectories(dir);
            lockFile = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = lockFile.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null; // held by this JVM already: the same answer as another process holding it
            }
            if (lock == null) {
                throw new IllegalStateException(dir + " is in use by another node; give each node on this machine"
                        + " its own weight cache");
            }
            ModelConfig config = writeConfig(dir, manifest);
            String digest = ModelDigest.of(config, manifest.index());
            if (!digest.equals(manifest.digest())) {
                throw new ModelFormatException("the model a holder described (config and " + manifest.index().size()
                        + " tensors) has digest " + digest + ", not the " + manifest.digest() + " it was asked for");
            }
            TensorCache cache = new TensorCache(dir, manifest, config, lockFile, lock);
            cache.removeStale();
            return cache;
        } catch (IOException e) {
            closeQuietly(lockFile);
            throw new UncheckedIOException("cannot open the weight cache " + dir, e);
        } catch (RuntimeException e) {
            closeQuietly(lockFile); // releases the lock with it
            throw e;
        }
    }

    private static ModelConfig writeConfig(Path dir, ModelManifest m) throws IOException {
        if (m.format() == CheckpointFormat.HUGGING_FACE) {
            writeAtomically(dir.resolve(ModelFileNames.HF_CONFIG), m.files().get(ModelFileNames.HF_CONFIG));
            return HfConfigReader.read(dir);
        }
        byte[] header = m.files().get(ModelFileNames.GGUF_HEADER).clone();
        if (header.length < 24
                || ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).getInt(0) != SingleTensorFiles.GGUF_MAGIC) {
            throw new ModelFormatException("the GGUF header a holder sent is not a GGUF header (" + header.length
                    + " bytes)");
        }
        // the metadata with no tensors: the descriptions that follow it are left in place and never read
        ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).putLong(8, 0);
        Path file = dir.resolve(GGUF_METADATA);
        writeAtomically(file, header);
        try (GgufFile g = GgufFile.open(file)) {
            return GgufConfigReader.parse(g.metadata(), file.toString());
        }
    }

    public ModelConfig config() {
        return config;
    }

    public ModelManifest manifest() {
        return manifest;
    }

    public Path dir() {
        return dir;
    }

    /**
     * The model's tensors as this node may compute with them: every name of the model, but only tensors checked in
     * this process resolve; any other one is an error naming it (a tensor its part needs and did not fetch is a
     * bug, never a silent zero).
     */
    public WeightStore store() {
        return store;
    }

    public synchronized State state(String name) {
        if (verified.contains(name)) {
            return State.VERIFIED;
        }
        Path file = file(name);
        if (Files.isRegularFile(file) && Files.isRegularFile(sidecar(file))) {
            return State.STORED;
        }
        return partialBytes(name) > 0 ? State.PARTIAL : State.ABSENT;
    }

    /** Bytes of the tensor kept from an interrupted fetch (0 when none, or when the part file is unusable). */
    public long partialBytes(String name) {
        Path part = part(file(name));
        try {
            if (!Files.isRegularFile(part)) {
                return 0;
            }
            long data = Files.size(part) - header(name).length;
            return data > 0 && data < manifest.index().get(name).byteSize() ? data : 0;
        } catch (IOException e) {
            return 0; // unreadable: fetched again from the start, which overwrites it
        }
    }

    /**
     * Checks a tensor stored by an earlier run: its size, its bytes hashed again against the SHA-256 recorded when
     * it was fetched, and against the holder's where the holder listed one. A match makes it readable; anything
     * else deletes it, so it is fetched again.
     *
     * @return whether the stored tensor can be used
     */
    public synchronized boolean reuse(String name, Optional<String> holderSha) {
        Path file = file(name);
        StoredTensor t = manifest.index().get(name);
        try {
            String recorded = Files.readString(sidecar(file), StandardCharsets.US_ASCII).strip();
            long headerBytes = header(name).length;
            if (Files.size(file) == headerBytes + t.byteSize() && holderSha.map(recorded::equals).orElse(true)) {
                String actual;
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
                    MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
                    Sha256 sha = new Sha256();
                    HeldTensors.update(sha, mapped, headerBytes, headerBytes + t.byteSize());
                    actual = sha.hex();
                }
                if (actual.equals(recorded)) {
                    verified.add(name);
                    return true;
                }
            }
        } catch (IOException e) {
            // unreadable or vanished: treated as not cached, and fetched again below
        }
        deleteQuietly(file);
        deleteQuietly(sidecar(file));
        return false;
    }

    /**
     * Opens the part file to receive a tensor from {@code offset}: 0 starts it afresh (header written, old bytes
     * dropped); otherwise it must be {@link #partialBytes}.
     */
    public synchronized Receiving receive(String name, long offset) {
        StoredTensor t = manifest.index().get(name);
        Path part = part(file(name));
        byte[] header = header(name);
        try {
            FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.READ);
            try {
                if (offset == 0) {
                    ch.truncate(0);
                    writeFully(ch, ByteBuffer.wrap(header), 0);
                } else if (ch.size() != header.length + offset) {
                    throw new IllegalStateException(part + " holds " + (ch.size() - header.length) + " bytes of '"
                            + name + "', not the " + offset + " to resume from");
                }
                return new Receiving(t, file(name), ch, header.length, offset);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + part, e);
        }
    }

    /** A tensor being received into its part file; closing keeps what was written for a later resume. */
    public final class Receiving implements AutoCloseable {
        private final StoredTensor tensor;
        private final Path file;
        private final FileChannel ch;
        private final long headerBytes;
        private long written;

        private Receiving(StoredTensor tensor, Path file, FileChannel ch, long headerBytes, long written) {
            this.tensor = tensor;
            this.file = file;
            this.ch = ch;
            this.headerBytes = headerBytes;
            this.written = written;
        }

        public long written() {
            return written;
        }

        /** Feeds the bytes kept from an earlier attempt to a digest, so the checksum covers the whole tensor. */
        void hashKept(Sha256 sha) {
            if (written == 0) {
                return;
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment kept = ch.map(FileChannel.MapMode.READ_ONLY, headerBytes, written, arena);
                HeldTensors.update(sha, kept, 0, written);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + part(file), e);
            }
        }

        public void append(ByteString data) {
            try {
                for (ByteBuffer b : data.asReadOnlyByteBufferList()) {
                    written += writeFully(ch, b, headerBytes + written);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + part(file), e);
            }
        }

        /** The tensor is whole and its checksum matched: it becomes readable, now and after a restart. */
        public void complete(String sha256) {
            if (written != tensor.byteSize()) {
                throw new IllegalStateException("tensor '" + tensor.name() + "' has " + written + " of "
                        + tensor.byteSize() + " bytes");
            }
            try {
                ch.force(true);
                ch.close();
                writeAtomically(sidecar(file), (sha256 + "\n").getBytes(StandardCharsets.US_ASCII));
                move(part(file), file);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot store " + file, e);
            }
            verified.add(tensor.name());
        }

        /** The bytes are wrong (checksum mismatch): nothing of them is kept. */
        public void discard() {
            close();
            deleteQuietly(part(file));
        }

        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing more will be written through it; a part file that was not flushed is re-checked on resume
            }
        }
    }

    /**
     * Makes tensors completed since the last call readable through the model's own reader. For Hugging Face, the
     * shard index is rewritten and the directory opened again (the earlier one stays open: tensors handed out
     * from it remain valid until the cache closes).
     */
    public synchronized void publish() {
        if (manifest.format() != CheckpointFormat.HUGGING_FACE) {
            return;
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (String name : manifest.index().names()) {
            if (verified.contains(name)) {
                weightMap.put(name, file(name).getFileName().toString());
            }
        }
        if (directory != null && directory.names().equals(weightMap.keySet())) {
            return;
        }
        Path index = dir.resolve(ShardIndex.FILE_NAME);
        Path tmp = dir.resolve(ShardIndex.FILE_NAME + TMP);
        new ShardIndex(weightMap, Map.of("total_size", manifest.index().bytes(weightMap.keySet()))).write(tmp);
        try {
            move(tmp, index);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + index, e);
        }
        SafetensorsDirectory d = SafetensorsDirectory.open(dir);
        directories.add(d);
        directory = d;
    }

    private Optional<Tensor> tensor(String name) {
        if (!manifest.index().contains(name)) {
            return Optional.empty();
        }
        if (!verified.contains(name)) {
            throw new IllegalStateException(dir + ": tensor '" + name + "' has not been fetched to this node; the"
                    + " parts it was assigned do not need it");
        }
        if (manifest.format() == CheckpointFormat.GGUF) {
            GgufFile g = ggufs.computeIfAbsent(name, n -> GgufFile.open(file(n)));
            return g.find(name);
        }
        SafetensorsDirectory d = directory;
        if (d == null || !d.names().contains(name)) {
            throw new IllegalStateException(dir + ": tensor '" + name + "' was fetched but not published");
        }
        return d.find(name);
    }

    /** The model's tensor names with the cache's tensors behind them. */
    private final class Store implements WeightStore {
        @Override
        public Set<String> names() {
            return manifest.index().names();
        }

        @Override
        public Optional<Tensor> find(String name) {
            return tensor(name);
        }

        @Override
        public String describe() {
            return dir + " (tensors fetched from peers)";
        }

        @Override
        public void close() {
            // the mappings belong to the cache, which closes them
        }
    }

    /**
     * Drops leftovers of an interrupted run that cannot be resumed: a sidecar without its tensor, a file half
     * written before its atomic rename.
     */
    private void removeStale() throws IOException {
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String n = p.getFileName().toString();
                if ((n.endsWith(SHA) && !Files.exists(p.resolveSibling(n.substring(0, n.length() - SHA.length()))))
                        || n.endsWith(TMP)) {
                    deleteQuietly(p);
                }
            }
        }
    }

    /** A tensor's file: its name made safe for any file system, with the format's extension. */
    Path file(String name) {
        StringBuilder b = new StringBuilder();
        for (byte x : name.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (x & 0xFF);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
                    || c == '-') {
                b.append(c);
            } else {
                b.append('%').append(String.format("%02X", (int) c));
            }
        }
        String base = b.length() <= 180 ? b.toString() : "t-" + sha256(name).substring(0, 40);
        if (base.startsWith(".") || base.equals(LOCK) || base.startsWith(GGUF_METADATA)) {
            base = "t-" + base; // never a hidden file, and never one of the cache's own
        }
        return dir.resolve(base + (manifest.format() == CheckpointFormat.GGUF ? ".gguf" : ".safetensors"));
    }

    private static Path part(Path file) {
        return file.resolveSibling(file.getFileName() + PART);
    }

    private static Path sidecar(Path file) {
        return file.resolveSibling(file.getFileName() + SHA);
    }

    /** The header of a tensor's file, deterministic so a resumed part file's data length is known. */
    byte[] header(String name) {
        return SingleTensorFiles.header(manifest.format(), manifest.index().get(name));
    }

    private static long writeFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
        long n = 0;
        while (b.hasRemaining()) {
            n += ch.write(b, position + n);
        }
        return n;
    }

    private static void writeAtomically(Path file, byte[] data) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + TMP);
        Files.write(tmp, data);
        move(tmp, file);
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING); // same directory: only exotic file systems
        }
    }

    private static String sha256(String s) {
        Sha256 sha = new Sha256();
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        sha.update(b, 0, b.length);
        return sha.hex();
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            // a file that cannot be deleted is overwritten or ignored later; nothing reads it unchecked
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // closing the lock file only releases the lock; nothing to recover
            }
        }
    }

    /** Unmaps every tensor handed out and releases the directory. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        ggufs.values().forEach(GgufFile::close);
        directories.forEach(SafetensorsDirectory::close);
        try {
            lock.release();
        } catch (IOException e) {
            // closing the channel below releases it as well
        }
        closeQuietly(lockFile);
    }

    @Override
    public String toString() {
        return "TensorCache[" + dir + ", " + verified.size() + " of " + manifest.index().size() + " tensors checked]";
    }
}
