package dev.herd.shard;

import dev.herd.model.config.ModelConfig;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.WeightStore;
import dev.herd.shard.weights.HeldTensors;
import dev.herd.shard.weights.WeightFetcher;
import dev.herd.shard.weights.WeightOrigin;

/**
 * The model a node serves: its config, its tensors (of which the node resolves only its part), the digest it
 * identifies the model by in every hello, and where the tensors come from: the node's own model files (which it
 * also serves to peers), or peers, fetched into a local cache before each part is loaded.
 */
public record ModelSource(ModelConfig config, WeightStore store, CheckpointFormat format, String digest,
                          WeightOrigin origin) {

    /** A model opened from disk, its digest computed from config and tensor index. */
    public static ModelSource of(ModelFiles files) {
        return new ModelSource(files.config(), files.store(), files.format(),
                ModelDigest.of(files.config(), files.store()), new WeightOrigin.LocalFiles(HeldTensors.of(files)));
    }

    /** A model this node has no files of: its tensors come through {@code fetcher}, which owns the cache. */
    public static ModelSource fetched(WeightFetcher fetcher) {
        var cache = fetcher.cache();
        return new ModelSource(cache.config(), cache.store(), cache.manifest().format(), cache.manifest().digest(),
                new WeightOrigin.FromPeers(fetcher));
    }

    /** The same model read through another store (e.g. one that records what is resolved). */
    public ModelSource withStore(WeightStore other) {
        return new ModelSource(config, other, format, digest, origin);
    }
}
