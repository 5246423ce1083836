package dev.herd.model.config;

import java.util.List;

/**
 * The immutable hyperparameters of a model: everything the forward pass needs to know about its shape.
 * Read from a Hugging Face {@code config.json} ({@link HfConfigReader}) or GGUF metadata.
 *
 * @param arch               model family
 * @param vocabSize          rows of the embedding and the LM head
 * @param hiddenSize         residual stream width
 * @param numHeads           query heads
 * @param numKvHeads         key/value heads
 * @param headDim            dimensions per head
 * @param ffnDim             intermediate size of dense (non-MoE) feed-forward layers
 * @param normEps            RMSNorm epsilon
 * @param rope               rotary embedding
 * @param moe                null for a dense model
 * @param qkNorm             query/key normalisation
 * @param attentionChunkSize chunk of Llama 4's local attention (used by layers that say so), 0 for none
 * @param temperature        Llama 4's attention temperature tuning on NoPE layers, null for none
 * @param tiedEmbeddings     the LM head reuses the embedding matrix
 * @param maxPositions       context length the model was trained for
 * @param bosTokenId         -1 when unknown
 * @param eosTokenIds        possibly empty
 * @param layers             one entry per decoder layer
 */
public record ModelConfig(Architecture arch, int vocabSize, int hiddenSize, int numHeads, int numKvHeads,
                          int headDim, int ffnDim, float normEps, RopeConfig rope, MoeConfig moe, QkNorm qkNorm,
                          int attentionChunkSize, AttentionTemperature temperature, boolean tiedEmbeddings,
                          int maxPositions, int bosTokenId, List<Integer> eosTokenIds, List<LayerSpec> layers) {

    public ModelConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
        layers = List.copyOf(layers);
        require(vocabSize > 0, "vocab size must be positive: " + vocabSize);
        require(hiddenSize > 0, "hidden size must be positive: " + hiddenSize);
        require(numHeads > 0 && numKvHeads > 0 && numHeads % numKvHeads == 0,
                "attention heads " + numHeads + " must be a positive multiple of kv heads " + numKvHeads);
        require(headDim > 0 && headDim % 2 == 0, "head dim must be positive and even: " + headDim);
        require(!layers.isEmpty(), "a model needs at least one layer");
        require(rope.rotaryDim() <= headDim, "rotary dim " + rope.rotaryDim() + " exceeds head dim " + headDim);
        boolean anyMoe = layers.stream().anyMatch(LayerSpec::moe);
        require(!anyMoe || moe != null, "MoE layers need a MoE config");
        require(ffnDim > 0 || layers.stream().allMatch(LayerSpec::moe), "dense layers need an ffn size");
        require(attentionChunkSize >= 0, "attention chunk size must not be negative");
        require(normEps > 0, "norm epsilon must be positive: " + normEps);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    public int numLayers() {
        return layers.size();
    }

    public LayerSpec layer(int i) {
        return layers.get(i);
    }

    public int qDim() {
        return numHeads * headDim;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    public boolean isMoe() {
        return moe != null;
    }

    /** Weights of the whole model (embedding, layers, final norm, LM head unless tied). */
    public long parameterCount() {
        return parameters(false);
    }

    /** Weights one token touches: routed experts counted {@code topK} times, not {@code numExperts}. */
    public long activeParameterCount() {
        return parameters(true);
    }

    private long parameters(boolean activeOnly) {
        long h = hiddenSize;
        long total = (long) vocabSize * h * (tiedEmbeddings ? 1 : 2) + h;
        for (LayerSpec layer : layers) {
            total += h * qDim() * 2L + h * kvDim() * 2L + 2 * h;
            if (qkNorm == QkNorm.RMS_WEIGHTED) {
                total += 2L * headDim;
            }
            if (layer.moe()) {
                long experts = activeOnly ? moe.topK() : moe.numExperts();
                total += moe.numExperts() * h + experts * 3 * h * moe.expertFfnDim() + 3 * h * moe.sharedExpertFfnDim();
            } else {
                total += 3 * h * ffnDim;
            }
        }
        return total;
    }
}
