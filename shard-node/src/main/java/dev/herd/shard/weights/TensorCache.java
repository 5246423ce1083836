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
import java.io.RandomAccessFile;
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
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tensors fetched from peers, on local disk under {@code <root>/<model digest>/}, readable by the model's own
 * format reader: one file per tensor, itself a valid single-tensor safetensors file (Hugging Face models, listed
 * in a {@code model.safetensors.index.json} beside the fetched {@code config.json}, so the directory opens like a
 * sharded checkpoint, FP8 scales found across files) or a single-tensor GGUF file (GGUF models, beside a
 * {@code metadata.gguf} holding the model's metadata). A file per tensor because that is what makes a fetch
 * resumable and a cache reusable across plans: a whole tensor is received into {@code <file>.part} after its
 * header, so the bytes kept are the file's length; it becomes {@code <file>} (with its SHA-256 in
 * {@code <file>.sha256}) only after its checksum matched.
 *
 * <p>A tensor fetched as slices (the experts a node holds of a stacked expert tensor, see {@link TensorPiece})
 * lives in the same file as the whole tensor would, at full length but sparse: each slice is written at its own
 * place, directly (its progress in {@code <file>.slice-<k>.part}, the bytes of slice {@code k} received so far),
 * and listed with its SHA-256 in {@code <file>.slices} once it matched. The model's reader thus maps one tensor of
 * the model's shape, and {@code Tensor.slice} hands the forward pass exactly the bytes of the file's expert; the
 * other experts' bytes are holes nobody reads (a node computes only with the experts it holds, which are exactly
 * those it fetched) and take no disk.
 *
 * <p>A tensor is readable through {@link #store()} only once it (or a slice of it) has been checked in this
 * process: received and matched, or found complete and hashed again ({@link #reuse}). The directory is locked while
 * open, so two processes never write one cache. {@link #prune} bounds the disk the cache takes.
 */
public final class TensorCache implements AutoCloseable {
    static final String PART = ".part";
    static final String SHA = ".sha256";
    static final String SLICES = ".slices";
    private static final String SLICE_PART = ".slice-";
    private static final Pattern SLICE_PROGRESS = Pattern.compile("(.+)\\.slice-(\\d+)\\.part");
    private static final String TMP = ".tmp";
    private static final String GGUF_METADATA = "metadata.gguf";
    private static final String LOCK = ".lock";
    private static final Pattern DIGEST = Pattern.compile("[0-9a-f]{64}");

    /** Where a tensor (or slice) stands in the cache. */
    public enum State { ABSENT, PARTIAL, STORED, VERIFIED }

    /**
     * What {@link #prune} found and did.
     *
     * @param bytesBefore   bytes the cache took before (this model's tensors, and other models' caches it may
     *                      remove), plus those about to be fetched
     * @param bytesFreed    bytes removed
     * @param tensorsEvicted this model's tensors removed (least recently used first)
     * @param modelsEvicted other models' caches removed
     * @param overLimit     bytes over the limit that remain because they are in use
     */
    public record Pruned(long bytesBefore, long bytesFreed, int tensorsEvicted, int modelsEvicted, long overLimit) {
    }

    private final Path root;
    private final Path dir;
    private final ModelManifest manifest;
    private final ModelConfig config;
    private final FileChannel lockFile;
    private final FileLock lock;
    private final Set<String> verified = ConcurrentHashMap.newKeySet();
    /** Slices checked in this process, by tensor name. */
    private final Map<String, Set<Long>> verifiedSlices = new ConcurrentHashMap<>();
    /** Tensors handed out by the store: in use until the cache closes, since their mappings stay open. */
    private final Set<String> mapped = ConcurrentHashMap.newKeySet();
    private final Map<String, GgufFile> ggufs = new ConcurrentHashMap<>();
    /** Mappings of files since replaced (a sliced tensor fetched whole): tensors handed out from them stay valid. */
    private final List<GgufFile> replaced = new ArrayList<>();
    private final Map<String, String> byFileName = new HashMap<>();
    private final List<SafetensorsDirectory> directories = new ArrayList<>();
    private volatile SafetensorsDirectory directory;
    private final Store store = new Store();
    private boolean closed;

    private TensorCache(Path root, Path dir, ModelManifest manifest, ModelConfig config, FileChannel lockFile,
                        FileLock lock) {
        this.root = root;
        this.dir = dir;
        this.manifest = manifest;
        this.config = config;
        this.lockFile = lockFile;
        this.lock = lock;
        for (String name : manifest.index().names()) {
            byFileName.put(file(name).getFileName().toString(), name);
        }
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
        if (!DIGEST.matcher(manifest.digest()).matches()) {
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
            TensorCache cache = new TensorCache(root, dir, manifest, config, lockFile, lock);
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

    /** Where a whole tensor stands. */
    public State state(String name) {
        return state(manifest.index().piece(name));
    }

    public synchronized State state(TensorPiece piece) {
        String name = piece.name();
        if (verified.contains(name) || (piece.isSlice() && sliceVerified(name, piece.slice()))) {
            return State.VERIFIED;
        }
        Path file = file(name);
        if (Files.isRegularFile(file) && Files.isRegularFile(sidecar(file))) {
            return State.STORED; // a whole tensor holds each of its slices
        }
        if (piece.isSlice() && Files.isRegularFile(file) && readSlices(file).containsKey(piece.slice())) {
            return State.STORED;
        }
        return partialBytes(piece) > 0 ? State.PARTIAL : State.ABSENT;
    }

    /** Bytes of a tensor, or of a slice ({@code name[k]}), kept from an interrupted fetch. */
    public long partialBytes(String key) {
        return partialBytes(manifest.index().piece(key));
    }

    /** Bytes of the piece kept from an interrupted fetch (0 when none, or when what is kept is unusable). */
    public long partialBytes(TensorPiece piece) {
        Path file = file(piece.name());
        try {
            long data;
            if (piece.isSlice()) {
                Path progress = sliceProgress(file, piece.slice());
                if (!Files.isRegularFile(progress) || !sparseBaseIsValid(piece.tensor(), file)) {
                    return 0;
                }
                data = Long.parseLong(Files.readString(progress, StandardCharsets.US_ASCII).strip());
            } else {
                Path part = part(file);
                if (!Files.isRegularFile(part)) {
                    return 0;
                }
                data = Files.size(part) - header(piece.name()).length;
            }
            return data > 0 && data < piece.size() ? data : 0;
        } catch (IOException | NumberFormatException e) {
            return 0; // unreadable: fetched again from the start, which overwrites it
        }
    }

    /** Bytes of the tensor that this cache has checked: the whole tensor's, or its checked slices'. */
    public long checkedBytes(String name) {
        StoredTensor t = manifest.index().get(name);
        if (verified.contains(name)) {
            return t.byteSize();
        }
        Set<Long> s = verifiedSlices.get(name);
        return s == null ? 0 : s.size() * t.sliceBytes();
    }

    private boolean sliceVerified(String name, long slice) {
        Set<Long> s = verifiedSlices.get(name);
        return s != null && s.contains(slice);
    }

    /**
     * Checks a tensor stored by an earlier run: its size, its bytes hashed again against the SHA-256 recorded when
     * it was fetched, and against the holder's where the holder listed one. A match makes it readable; anything
     * else deletes it, so it is fetched again. A slice is checked the same way against the hash listed for it (or,
     * when the whole tensor is stored, the whole tensor is checked).
     *
     * @return whether the stored tensor or slice can be used
     */
    public synchronized boolean reuse(TensorPiece piece) {
        String name = piece.name();
        Path file = file(name);
        if (!piece.isSlice() || Files.isRegularFile(sidecar(file))) {
            return reuseWhole(name, Optional.ofNullable(manifest.hashes().get(name)));
        }
        Map<Long, String> listed = readSlices(file);
        String recorded = listed.get(piece.slice());
        try {
            if (recorded != null && sparseBaseIsValid(piece.tensor(), file)) {
                long from = header(name).length + piece.start();
                if (recorded.equals(hash(file, from, from + piece.size()))) {
                    verifiedSlices.computeIfAbsent(name, k -> ConcurrentHashMap.newKeySet()).add(piece.slice());
                    touch(file);
                    return true;
                }
            }
        } catch (IOException e) {
            // unreadable: treated as not cached, and fetched again below
        }
        listed.remove(piece.slice());
        try {
            writeSlices(file, listed);
        } catch (IOException e) {
            // the slice stays listed but is hashed again (and fails again) before any use; it is fetched anyway
        }
        return false;
    }

    private boolean reuseWhole(String name, Optional<String> holderSha) {
        Path file = file(name);
        StoredTensor t = manifest.index().get(name);
        try {
            String recorded = Files.readString(sidecar(file), StandardCharsets.US_ASCII).strip();
            long headerBytes = header(name).length;
            if (Files.size(file) == headerBytes + t.byteSize() && holderSha.map(recorded::equals).orElse(true)
                    && recorded.equals(hash(file, headerBytes, headerBytes + t.byteSize()))) {
                verified.add(name);
                touch(file);
                return true;
            }
        } catch (IOException e) {
            // unreadable or vanished: treated as not cached, and fetched again below
        }
        deleteQuietly(file);
        deleteQuietly(sidecar(file));
        return false;
    }

    private static String hash(Path file, long from, long to) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            Sha256 sha = new Sha256();
            if (to > from) {
                MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, from, to - from, arena);
                HeldTensors.update(sha, mapped, 0, to - from);
            }
            return sha.hex();
        }
    }

    /** Opens the part file to receive a whole tensor from {@code offset} (see {@link #receive(TensorPiece, long)}). */
    public Receiving receive(String name, long offset) {
        return receive(TensorPiece.whole(manifest.index().get(name)), offset);
    }

    /**
     * Opens what receives a piece from {@code offset}: 0 starts it afresh (old bytes dropped); otherwise it must be
     * {@link #partialBytes}. A whole tensor goes to its part file after the header; a slice straight to its place in
     * the tensor's sparse file (created at full length when absent).
     */
    public synchronized Receiving receive(TensorPiece piece, long offset) {
        String name = piece.name();
        Path file = file(name);
        byte[] header = header(name);
        if (!piece.isSlice()) {
            Path part = part(file);
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
                    return new Receiving(piece, file, ch, null, header.length, offset);
                } catch (IOException | RuntimeException e) {
                    ch.close();
                    throw e;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + part, e);
            }
        }
        Path progress = sliceProgress(file, piece.slice());
        FileChannel ch = null;
        FileChannel marker = null;
        try {
            deleteQuietly(sidecar(file)); // no longer a whole tensor: only listed slices count
            if (!sparseBaseIsValid(piece.tensor(), file)) {
                if (offset != 0) {
                    throw new IllegalStateException(file + " is not the file of '" + name + "' to resume slice "
                            + piece.slice() + " in");
                }
                createSparseBase(name, file, header);
            }
            ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.READ);
            marker = FileChannel.open(progress, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            if (offset != 0 && partialBytes(piece) != offset) {
                throw new IllegalStateException(progress + " does not record the " + offset + " bytes of slice "
                        + piece.slice() + " of '" + name + "' to resume from");
            }
            Receiving r = new Receiving(piece, file, ch, marker, header.length + piece.start(), offset);
            r.record();
            return r;
        } catch (IOException e) {
            closeQuietly(ch);
            closeQuietly(marker);
            throw new UncheckedIOException("cannot write " + file, e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            closeQuietly(marker);
            throw e;
        }
    }

    /** The tensor's full-length file exists with its header: slices can be written into it. */
    private boolean sparseBaseIsValid(StoredTensor t, Path file) throws IOException {
        byte[] header = header(t.name());
        if (!Files.isRegularFile(file) || Files.size(file) != header.length + t.byteSize()) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(header.length);
            while (b.hasRemaining() && ch.read(b, b.position()) >= 0) {
                // reads the header only
            }
            return Arrays.equals(b.array(), header);
        }
    }

    /** The tensor's file at full length with nothing but its header written: the rest are holes, no disk. */
    private void createSparseBase(String name, Path file, byte[] header) throws IOException {
        if (mapped.contains(name)) {
            // never truncate a mapped file: reading a mapping past the end of its file crashes the process
            throw new IllegalStateException(file + " is mapped, so it cannot be created again for '" + name + "'");
        }
        Path listed = slicesFile(file);
        deleteQuietly(listed);
        deleteSliceProgress(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(0);
            raf.write(header);
            raf.setLength(header.length + manifest.index().get(name).byteSize()); // extends without writing
        }
    }

    /** A tensor or slice being received; closing keeps what was written for a later resume. */
    public final class Receiving implements AutoCloseable {
        private final TensorPiece piece;
        private final Path file;
        private final FileChannel ch;
        private final FileChannel progress;
        private final long dataStart;
        private long written;

        private Receiving(TensorPiece piece, Path file, FileChannel ch, FileChannel progress, long dataStart,
                          long written) {
            this.piece = piece;
            this.file = file;
            this.ch = ch;
            this.progress = progress;
            this.dataStart = dataStart;
            this.written = written;
        }

        public long written() {
            return written;
        }

        private Path target() {
            return piece.isSlice() ? file : part(file);
        }

        /** Feeds the bytes kept from an earlier attempt to a digest, so the checksum covers the whole piece. */
        void hashKept(Sha256 sha) {
            if (written == 0) {
                return;
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment kept = ch.map(FileChannel.MapMode.READ_ONLY, dataStart, written, arena);
                HeldTensors.update(sha, kept, 0, written);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + target(), e);
            }
        }

        public void append(ByteString data) {
            try {
                for (ByteBuffer b : data.asReadOnlyByteBufferList()) {
                    written += writeFully(ch, b, dataStart + written);
                }
                record();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + target(), e);
            }
        }

        /**
         * A slice's bytes received so far, written after the bytes themselves: what a resumed fetch starts from. Not
         * forced to disk: after a machine crash it may run ahead of the data, which the checksum then catches.
         */
        private void record() throws IOException {
            if (progress != null) {
                byte[] n = String.format("%020d", written).getBytes(StandardCharsets.US_ASCII);
                writeFully(progress, ByteBuffer.wrap(n), 0);
            }
        }

        /** The piece is whole and its checksum matched: it becomes readable, now and after a restart. */
        public void complete(String sha256) {
            if (written != piece.size()) {
                throw new IllegalStateException(piece.describe() + " has " + written + " of " + piece.size() + " bytes");
            }
            try {
                ch.force(true);
                close();
                if (piece.isSlice()) {
                    completeSlice(piece, file, sha256);
                } else {
                    writeAtomically(sidecar(file), (sha256 + "\n").getBytes(StandardCharsets.US_ASCII));
                    completeWhole(piece.name(), file);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot store " + file, e);
            }
        }

        /** The bytes are wrong (checksum mismatch): nothing of them is kept. */
        public void discard() {
            close();
            deleteQuietly(piece.isSlice() ? sliceProgress(file, piece.slice()) : part(file));
        }

        @Override
        public void close() {
            closeQuietly(ch);
            closeQuietly(progress);
        }
    }

    private synchronized void completeSlice(TensorPiece piece, Path file, String sha256) throws IOException {
        Map<Long, String> listed = readSlices(file);
        listed.put(piece.slice(), sha256);
        writeSlices(file, listed);
        deleteQuietly(sliceProgress(file, piece.slice()));
        verifiedSlices.computeIfAbsent(piece.name(), k -> ConcurrentHashMap.newKeySet()).add(piece.slice());
    }

    private synchronized void completeWhole(String name, Path file) throws IOException {
        move(part(file), file);
        // the whole tensor replaces any slices of it: their list goes, and a mapping of the sparse file is set aside
        // (tensors handed out from it stay valid; the next lookup maps the whole file)
        deleteQuietly(slicesFile(file));
        deleteSliceProgress(file);
        verifiedSlices.remove(name);
        GgufFile old = ggufs.remove(name);
        if (old != null) {
            replaced.add(old);
        }
        verified.add(name);
    }

    /** Slices listed as checked in a tensor's {@code .slices} file: index to SHA-256 (empty when none). */
    private static Map<Long, String> readSlices(Path file) {
        Map<Long, String> out = new TreeMap<>();
        Path listed = slicesFile(file);
        try {
            if (!Files.isRegularFile(listed)) {
                return out;
            }
            for (String line : Files.readAllLines(listed, StandardCharsets.US_ASCII)) {
                String[] f = line.strip().split(" ");
                if (f.length == 2 && f[1].matches("[0-9a-f]{64}")) {
                    try {
                        out.put(Long.parseLong(f[0]), f[1]);
                    } catch (NumberFormatException e) {
                        // a damaged line lists nothing: that slice is fetched again
                    }
                }
            }
        } catch (IOException e) {
            // unreadable: no slice counts as stored, each is fetched again
        }
        return out;
    }

    private static void writeSlices(Path file, Map<Long, String> listed) throws IOException {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<Long, String> e : listed.entrySet()) {
            b.append(e.getKey()).append(' ').append(e.getValue()).append('\n');
        }
        writeAtomically(slicesFile(file), b.toString().getBytes(StandardCharsets.US_ASCII));
    }

    private void deleteSliceProgress(Path file) throws IOException {
        String prefix = file.getFileName() + SLICE_PART;
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String n = p.getFileName().toString();
                if (n.startsWith(prefix) && n.endsWith(PART)) {
                    deleteQuietly(p);
                }
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
            if (readable(name)) {
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

    /** Checked in this process, whole or some of its slices. */
    private boolean readable(String name) {
        if (verified.contains(name)) {
            return true;
        }
        Set<Long> s = verifiedSlices.get(name);
        return s != null && !s.isEmpty();
    }

    private Optional<Tensor> tensor(String name) {
        if (!manifest.index().contains(name)) {
            return Optional.empty();
        }
        if (!readable(name)) {
            throw new IllegalStateException(dir + ": tensor '" + name + "' has not been fetched to this node; the"
                    + " parts it was assigned do not need it");
        }
        if (mapped.add(name)) {
            touch(file(name)); // the least recently used tensors are the first to go when the cache is pruned
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
     * Drops leftovers of an interrupted run that cannot be resumed (a sidecar or progress file without its tensor's
     * file, a file half written before its atomic rename) and files that are no tensor of this model (a tensor
     * index changed under the same digest never happens; a file put there by hand or by another build might).
     */
    private void removeStale() throws IOException {
        Set<String> own = Set.of(LOCK, ModelFileNames.HF_CONFIG, GGUF_METADATA, ShardIndex.FILE_NAME);
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String n = p.getFileName().toString();
                if (own.contains(n) || !Files.isRegularFile(p)) {
                    continue;
                }
                String base = baseFileName(n);
                if (n.endsWith(TMP) || base == null || !byFileName.containsKey(base)
                        || ((n.endsWith(SHA) || n.endsWith(SLICES)) && !Files.exists(p.resolveSibling(base)))
                        || (SLICE_PROGRESS.matcher(n).matches() && !Files.exists(p.resolveSibling(base)))) {
                    deleteQuietly(p);
                }
            }
        }
    }

    /** The tensor file a cache file belongs to ({@code x.gguf} for {@code x.gguf.slice-3.part}), or null. */
    private String baseFileName(String n) {
        if (byFileName.containsKey(n)) {
            return n;
        }
        Matcher m = SLICE_PROGRESS.matcher(n);
        if (m.matches()) {
            return m.group(1);
        }
        for (String suffix : List.of(SHA, SLICES, PART)) {
            if (n.endsWith(suffix)) {
                return n.substring(0, n.length() - suffix.length());
            }
        }
        return null;
    }

    /**
     * Bounds the disk the cache takes to {@code limitBytes}, counting the {@code incomingBytes} about to be
     * fetched: removes other models' caches under the same root first (those no running node has locked; a node
     * serves one model, so they are of no use to it), then this model's tensors that are neither in
     * {@code keep} (the assignment being loaded) nor handed out by the store in this process (a serving part
     * computes with them, and their mappings would keep the disk taken anyway), least recently used first (last
     * fetched, checked or mapped). What is in use stays even over the limit. A tensor's slices go together: the
     * unit of eviction is the tensor's file.
     *
     * @param keep tensor names (not slice keys) of the assignment being loaded
     */
    public synchronized Pruned prune(Set<String> keep, long incomingBytes, long limitBytes) {
        List<Entry> candidates = new ArrayList<>();
        long used = incomingBytes;
        List<Entry> others = otherModels();
        for (Entry e : others) {
            used += e.bytes();
            candidates.add(e);
        }
        List<Entry> own = new ArrayList<>();
        Map<String, List<Path>> files = filesByTensor();
        for (Map.Entry<String, List<Path>> t : files.entrySet()) {
            Entry e = entry(t.getKey(), t.getValue());
            used += e.bytes();
            if (!keep.contains(t.getKey()) && !mapped.contains(t.getKey())) {
                own.add(e);
            }
        }
        own.sort(Comparator.comparing(Entry::lastUsed));
        candidates.sort(Comparator.comparing(Entry::lastUsed));
        candidates.addAll(own); // other models first, each group oldest first
        long before = used;
        int tensors = 0;
        int models = 0;
        for (Entry e : candidates) {
            if (used <= limitBytes) {
                break;
            }
            if (e.tensor() == null) {
                if (!deleteOtherModel(e.files().getFirst())) {
                    continue; // a node opened it meanwhile
                }
                models++;
            } else {
                e.files().forEach(TensorCache::deleteQuietly);
                verified.remove(e.tensor());
                verifiedSlices.remove(e.tensor());
                tensors++;
            }
            used -= e.bytes();
        }
        return new Pruned(before, before - used, tensors, models, Math.max(0, used - limitBytes));
    }

    /**
     * Something the cache may remove: one of this model's tensors (its file and sidecars) or another model's
     * cache (its directory, {@code tensor} null).
     */
    private record Entry(String tensor, List<Path> files, long bytes, FileTime lastUsed) {
    }

    private Map<String, List<Path>> filesByTensor() {
        Map<String, List<Path>> out = new LinkedHashMap<>();
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String base = baseFileName(p.getFileName().toString());
                String tensor = base == null ? null : byFileName.get(base);
                if (tensor != null && !p.getFileName().toString().endsWith(TMP)) {
                    out.computeIfAbsent(tensor, k -> new ArrayList<>()).add(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the weight cache " + dir, e);
        }
        return out;
    }

    /**
     * The disk a tensor's files take: a whole tensor's file, a part file, or, for a sparse file of slices, its
     * header and the slices listed or being received (its length counts the holes too, which take no disk).
     */
    private Entry entry(String tensor, List<Path> files) {
        Path file = file(tensor);
        StoredTensor t = manifest.index().get(tensor);
        long bytes = 0;
        FileTime last = FileTime.fromMillis(0);
        for (Path p : files) {
            try {
                FileTime m = Files.getLastModifiedTime(p);
                last = m.compareTo(last) > 0 ? m : last;
                String n = p.getFileName().toString();
                if (p.equals(file)) {
                    bytes += Files.isRegularFile(slicesFile(file)) || !Files.isRegularFile(sidecar(file))
                            ? header(tensor).length + readSlices(file).size() * (t.sliceable() ? t.sliceBytes() : 0)
                            : Files.size(p);
                } else if (SLICE_PROGRESS.matcher(n).matches()) {
                    bytes += Long.parseLong(Files.readString(p, StandardCharsets.US_ASCII).strip());
                } else {
                    bytes += Files.size(p);
                }
            } catch (IOException | NumberFormatException e) {
                // vanished or unreadable: it counts for nothing, and removing it is harmless
            }
        }
        return new Entry(tensor, files, bytes, last);
    }

    /** Caches of other models under the same root that no running node has locked. */
    private List<Entry> otherModels() {
        List<Entry> out = new ArrayList<>();
        try (var dirs = Files.list(root)) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                if (d.equals(dir) || !Files.isDirectory(d) || !DIGEST.matcher(d.getFileName().toString()).matches()
                        || isLocked(d)) {
                    continue;
                }
                long bytes = 0;
                FileTime last = FileTime.fromMillis(0);
                try (var files = Files.list(d)) {
                    for (Path p : (Iterable<Path>) files::iterator) {
                        // logical sizes: a sparse file of slices counts its holes, so this errs on removing
                        bytes += Files.isRegularFile(p) ? Files.size(p) : 0;
                        FileTime m = Files.getLastModifiedTime(p);
                        last = m.compareTo(last) > 0 ? m : last;
                    }
                }
                out.add(new Entry(null, List.of(d), bytes, last));
            }
        } catch (IOException e) {
            // an unreadable neighbour is left alone; this model's own tensors are still bounded
        }
        return out;
    }

    private static boolean isLocked(Path modelDir) {
        try (FileChannel ch = FileChannel.open(modelDir.resolve(LOCK), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE)) {
            FileLock l = ch.tryLock();
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true; // a cache open in this JVM
        } catch (IOException e) {
            return true; // cannot tell: left alone
        }
    }

    /** Removes another model's cache while holding its lock, so no node opens it halfway through. */
    private static boolean deleteOtherModel(Path modelDir) {
        try (FileChannel ch = FileChannel.open(modelDir.resolve(LOCK), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE)) {
            FileLock l = ch.tryLock();
            if (l == null) {
                return false;
            }
            try (var files = Files.list(modelDir)) {
                for (Path p : (Iterable<Path>) files::iterator) {
                    if (!p.getFileName().toString().equals(LOCK)) {
                        deleteQuietly(p);
                    }
                }
            }
            deleteQuietly(modelDir.resolve(LOCK));
            l.release();
        } catch (OverlappingFileLockException | IOException e) {
            return false;
        }
        deleteQuietly(modelDir); // fails harmlessly if a node created it again meanwhile
        return true;
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

    private static Path slicesFile(Path file) {
        return file.resolveSibling(file.getFileName() + SLICES);
    }

    private static Path sliceProgress(Path file, long slice) {
        return file.resolveSibling(file.getFileName() + SLICE_PART + slice + PART);
    }

    private static void touch(Path file) {
        try {
            Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException e) {
            // only the eviction order suffers
        }
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

    private static void closeQuietly(java.nio.channels.Channel ch) {
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
        replaced.forEach(GgufFile::close);
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
        return "TensorCache[" + dir + ", " + verified.size() + " whole and " + verifiedSlices.size() + " sliced of "
                + manifest.index().size() + " tensors checked]";
    }
}
