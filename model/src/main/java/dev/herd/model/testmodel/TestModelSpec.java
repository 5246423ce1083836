package dev.herd.model.testmodel;

import dev.herd.model.config.Architecture;

/**
 * The shape of a generated random-weight model. Defaults give a small model that decodes stably.
 *
 * @param arch          family
 * @param hidden        hidden size
 * @param layers        decoder layers
 * @param heads         query heads
 * @param kvHeads       key/value heads
 * @param headDim       dims per head
 * @param ffn           dense intermediate size (Llama, Qwen3 dense layers, Llama 4 dense layers)
 * @param experts       routed experts (ignored for Llama)
 * @param topK          experts per token
 * @param expertFfn     routed expert intermediate size
 * @param vocab         vocabulary size (at least 256 + special tokens, for the byte-level tokenizer)
 * @param ropeTheta     rotary base
 * @param moeStep       Llama 4: every moeStep-th layer is MoE (interleave_moe_layer_step)
 * @param ropeScaling   add Llama 3 style rope scaling to the config
 * @param chunk         Llama 4: attention chunk size (real models and llama.cpp: 8192); a small one
 *                      exercises chunked attention in short tests
 * @param floorScale    Llama 4: attention temperature floor scale (real models and llama.cpp: 8192)
 * @param seed          weight seed
 */
public record TestModelSpec(Architecture arch, int hidden, int layers, int heads, int kvHeads, int headDim, int ffn,
                            int experts, int topK, int expertFfn, int vocab, double ropeTheta, int moeStep,
                            boolean ropeScaling, int chunk, int floorScale, long seed) {

    public TestModelSpec {
        if (hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("bad test model shape");
        }
        if (arch != Architecture.LLAMA && (experts < 1 || topK < 1 || topK > experts)) {
            throw new IllegalArgumentException(arch + " needs experts >= topK >= 1");
        }
        if (vocab < TestTokenizer.MIN_VOCAB) {
            throw new IllegalArgumentException("vocab must be at least " + TestTokenizer.MIN_VOCAB);
        }
    }

    /** A small model of the family: quick to generate and run, big enough to exercise every path. */
    public static TestModelSpec small(Architecture arch) {
        return switch (arch) {
            case LLAMA -> new TestModelSpec(arch, 64, 2, 4, 2, 16, 128, 0, 0, 0, 512, 10000, 1, false, 8192, 8192, 1);
            case MIXTRAL -> new TestModelSpec(arch, 64, 2, 4, 2, 16, 0, 4, 2, 96, 512, 1e6, 1, false, 8192, 8192, 1);
            case QWEN3_MOE -> new TestModelSpec(arch, 64, 2, 4, 2, 32, 128, 8, 2, 64, 512, 1e6, 1, false, 8192, 8192,
                    1);
            case LLAMA4 -> new TestModelSpec(arch, 64, 4, 4, 2, 16, 128, 4, 1, 64, 512, 5e5, 2, false, 8192, 8192, 1);
        };
    }

    public TestModelSpec withSeed(long newSeed) {
        return new TestModelSpec(arch, hidden, layers, heads, kvHeads, headDim, ffn, experts, topK, expertFfn, vocab,
                ropeTheta, moeStep, ropeScaling, chunk, floorScale, newSeed);
    }

    public TestModelSpec withRopeScaling(boolean scaling) {
        return new TestModelSpec(arch, hidden, layers, heads, kvHeads, headDim, ffn, experts, topK, expertFfn, vocab,
                ropeTheta, moeStep, scaling, chunk, floorScale, seed);
    }

    /** Llama 4 with a small attention chunk and temperature floor, so short sequences cross both. */
    public TestModelSpec withChunk(int newChunk, int newFloorScale) {
        return new TestModelSpec(arch, hidden, layers, heads, kvHeads, headDim, ffn, experts, topK, expertFfn, vocab,
                ropeTheta, moeStep, ropeScaling, newChunk, newFloorScale, seed);
    }

    public boolean isMoeLayer(int l) {
        return switch (arch) {
            case LLAMA -> false;
            case MIXTRAL, QWEN3_MOE -> true;
            case LLAMA4 -> (l + 1) % moeStep == 0;
        };
    }
}
