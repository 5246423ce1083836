package dev.herd.shard.weights;

/** Where a node's weights come from: its own copy of the model files, or peers that have them. */
public sealed interface WeightOrigin {

    /** Every tensor of the model, with its stored size. */
    TensorIndex index();

    /** The model files are here: the node reads its tensors from them and serves them to peers. */
    record LocalFiles(HeldTensors held) implements WeightOrigin {
        @Override
        public TensorIndex index() {
            return held.index();
        }
    }

    /** No model files here: the node fetches the tensors of each assignment into its cache before loading it. */
    record FromPeers(WeightFetcher fetcher) implements WeightOrigin {
        @Override
        public TensorIndex index() {
            return fetcher.cache().manifest().index();
        }
    }
}
