package dev.herd.shard.weights;

import dev.herd.kernels.Tensor;
import dev.herd.model.gguf.GgufFile;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.safetensors.SafetensorsDirectory;
import dev.herd.model.safetensors.TensorEntry;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelFormatException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The holder's side of weight transfer: the tensors of a model whose files this node has, described (name, stored
 * type, shape, bytes) and readable as views of the mapped files, plus the small files a node needs besides
 * tensors to open the model. SHA-256s are computed when first needed and kept, so a holder never hashes a model
 * it is not asked to send.
 *
 * <p>Thread-safe. The bytes stay valid as long as the {@link ModelFiles} they come from are open; their files are
 * never written while served.
 */
public final class HeldTensors {
    /** Hashing reads the mapping through byte buffers, which are int-indexed: slices of this many bytes. */
    private static final long HASH_SLICE = 16L << 20;

    private final ModelFiles files;
    private final TensorIndex index;
    private final Map<String, String> hashes = new ConcurrentHashMap<>();

    private HeldTensors(ModelFiles files, TensorIndex index) {
        this.files = files;
        this.index = index;
    }

    /** Describes the tensors of open model files; reads headers only. */
    public static HeldTensors of(ModelFiles files) {
        List<StoredTensor> tensors = new ArrayList<>();
        if (files.format() == CheckpointFormat.GGUF) {
            for (Tensor t : files.gguf().tensors()) {
                tensors.add(new StoredTensor(t.name(), t.dtype().name(), t.shape(), t.data().byteSize()));
            }
        } else {
            SafetensorsDirectory dir = directory(files);
            for (String name : dir.names()) {
                TensorEntry e = dir.entry(name).orElseThrow(); // the index names it, so its shard holds it
                tensors.add(new StoredTensor(name, e.dtype(), e.shape(), e.byteSize()));
            }
        }
        return new HeldTensors(files, new TensorIndex(tensors));
    }

    private static SafetensorsDirectory directory(ModelFiles files) {
        if (!(files.store() instanceof SafetensorsDirectory d)) {
            throw new IllegalArgumentException(files.path() + ": a Hugging Face model opened without its directory");
        }
        return d;
    }

    public CheckpointFormat format() {
        return files.format();
    }

    public TensorIndex index() {
        return index;
    }

    /** The stored bytes of a tensor, a view of the mapped file. */
    public MemorySegment bytes(String name) {
        index.get(name);
        Optional<MemorySegment> data = files.format() == CheckpointFormat.GGUF
                ? files.gguf().find(name).map(Tensor::data)
                : directory(files).bytes(name);
        return data.orElseThrow(() -> new ModelFormatException(files.path() + ": no tensor named '" + name + "'"));
    }

    /** A piece's stored bytes: the tensor's, or its slice's (contiguous in the file), a view of the mapping. */
    public MemorySegment bytes(TensorPiece piece) {
        MemorySegment whole = bytes(piece.name());
        return piece.isSlice() ? whole.asSlice(piece.start(), piece.size()) : whole;
    }

    /** The SHA-256 of a tensor or slice ({@link TensorPiece#key()}) if it has been computed already. */
    public Optional<String> knownSha256(String key) {
        return Optional.ofNullable(hashes.get(key));
    }

    /** The tensor's SHA-256, computed now (reading the whole tensor) unless known. */
    public String sha256(String name) {
        return sha256(TensorPiece.whole(index.get(name)));
    }

    /** The piece's SHA-256, computed now (reading its bytes) unless known. */
    public String sha256(TensorPiece piece) {
        String known = hashes.get(piece.key());
        if (known != null) {
            return known;
        }
        Sha256 sha = new Sha256();
        update(sha, bytes(piece), 0, piece.size());
        String hex = sha.hex();
        hashes.put(piece.key(), hex);
        return hex;
    }

    /** Keeps a hash computed while a tensor or slice ({@link TensorPiece#key()}) was streamed whole. */
    void remember(String key, String sha256) {
        hashes.putIfAbsent(key, sha256);
    }

    /** Feeds {@code [from, to)} of a mapped segment to a digest, without copying it onto the heap. */
    static void update(Sha256 sha, MemorySegment data, long from, long to) {
        for (long pos = from; pos < to; pos += HASH_SLICE) {
            long len = Math.min(HASH_SLICE, to - pos);
            sha.update(data.asSlice(pos, len).asByteBuffer());
        }
    }

    /**
     * The files a node needs besides tensors to open this model, by name: {@code config.json} of a Hugging Face
     * directory, or {@code header.gguf}, the GGUF file's bytes before its tensor data.
     */
    public Map<String, byte[]> modelFiles() {
        Map<String, byte[]> out = new LinkedHashMap<>();
        try {
            if (files.format() == CheckpointFormat.GGUF) {
                out.put(ModelFileNames.GGUF_HEADER, prefix(files.gguf().path(), files.gguf().dataOffset()));
            } else {
                out.put(ModelFileNames.HF_CONFIG, Files.readAllBytes(files.path().resolve(ModelFileNames.HF_CONFIG)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the model files of " + files.path(), e);
        }
        return out;
    }

    private static byte[] prefix(Path file, long length) throws IOException {
        if (length > Integer.MAX_VALUE - 16) {
            throw new ModelFormatException(file + ": a GGUF header of " + length + " bytes is too large to send");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) length);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (buf.hasRemaining()) {
                if (ch.read(buf, buf.position()) < 0) {
                    throw new ModelFormatException(file + ": ends inside its own header");
                }
            }
        }
        return buf.array();
    }

    /** Where the tensors come from, for messages. */
    public String describe() {
        return files.path().toString();
    }
}
