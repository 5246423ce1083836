package dev.herd.shard;

import dev.herd.model.config.ModelConfig;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.WeightStore;

/**
 * The model a node serves: its config, its mapped tensors (of which the node resolves only its part) and the
 * digest it identifies the model by in every hello.
 */
public record ModelSource(ModelConfig config, WeightStore store, CheckpointFormat format, String digest) {

    /** A model opened from disk, its digest computed from config and tensor index. */
    public static ModelSource of(ModelFiles files) {
        return new ModelSource(files.config(), files.store(), files.format(),
                ModelDigest.of(files.config(), files.store()));
    }

    /** The same model read through another store (e.g. one that pulls tensors from peers). */
    public ModelSource withStore(WeightStore other) {
        return new ModelSource(config, other, format, digest);
    }
}
