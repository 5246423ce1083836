package dev.herd.shard;

import dev.herd.model.sampling.InvalidSamplingParameterException;
import dev.herd.model.sampling.SampledToken;
import dev.herd.proto.v1.SamplingParams;
import dev.herd.proto.v1.SequenceSampling;
import dev.herd.proto.v1.TokenLogprob;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Sampling parameters and sampled tokens between their wire form and the {@link dev.herd.model.sampling} types
 * that a single process and a pipeline's last stage both sample with. Proto3 sends 0 for an unset field, so the
 * settings where 0 means "off" are mapped to the value that is off in {@link dev.herd.model.sampling.SamplingParams}.
 */
public final class SamplingCodec {
    private SamplingCodec() {
    }

    /** The wire form of {@code p}, with the seed the sequence draws from (the coordinator always resolves one). */
    public static SamplingParams toProto(dev.herd.model.sampling.SamplingParams p, long seed) {
        SamplingParams.Builder b = SamplingParams.newBuilder()
                .setTemperature(p.temperature())
                .setTopK(p.topK())
                .setTopP(p.topP() >= 1 ? 0 : p.topP())
                .setMinP(p.minP())
                .setSeed(seed)
                .setPresencePenalty(p.presencePenalty())
                .setFrequencyPenalty(p.frequencyPenalty())
                .setRepetitionPenalty(p.repetitionPenalty() == 1 ? 0 : p.repetitionPenalty())
                .setLogprobs(p.logprobs())
                .setTopLogprobs(p.topLogprobs());
        p.logitBias().forEach(b::putLogitBias);
        return b.build();
    }

    /** A sequence joining a batch: its parameters and the tokens the penalties count. */
    public static SequenceSampling toProto(long seqId, dev.herd.model.sampling.SamplingParams p, long seed,
                                           int[] history, int promptLength) {
        SequenceSampling.Builder b = SequenceSampling.newBuilder().setSeqId(seqId).setParams(toProto(p, seed))
                .setPromptLength(promptLength);
        for (int t : history) {
            b.addHistory(t);
        }
        return b.build();
    }

    /**
     * The parameters as the sampler takes them; an out-of-range value is refused with the field's name (the
     * coordinator validated them, so this only catches a sender that did not).
     */
    static SequenceParams fromProto(SequenceSampling s) {
        SamplingParams p = s.getParams();
        String what = "sequence " + s.getSeqId();
        if (s.getPromptLength() > s.getHistoryCount()) {
            throw FrameRejected.badFrame(what + " has a prompt of " + s.getPromptLength() + " tokens in a history of "
                    + s.getHistoryCount());
        }
        Map<Integer, Float> bias = new HashMap<>();
        p.getLogitBiasMap().forEach(bias::put);
        dev.herd.model.sampling.SamplingParams params;
        try {
            params = new dev.herd.model.sampling.SamplingParams(p.getTemperature(), p.getTopK(),
                    p.getTopP() == 0 || p.getTopP() >= 1 ? 1 : p.getTopP(), p.getMinP(), p.getPresencePenalty(),
                    p.getFrequencyPenalty(), p.getRepetitionPenalty() == 0 ? 1 : p.getRepetitionPenalty(), bias,
                    p.hasSeed() ? p.getSeed() : null, p.getLogprobs(), p.getTopLogprobs());
        } catch (InvalidSamplingParameterException e) {
            throw FrameRejected.badFrame(what + ": " + e.getMessage());
        }
        int[] history = new int[s.getHistoryCount()];
        for (int i = 0; i < history.length; i++) {
            history[i] = s.getHistory(i); // a uint32 above 2^31 - 1 reads negative: the vocabulary check refuses it
        }
        // without a seed each node draws from its own entropy, as the contract says
        long seed = p.hasSeed() ? p.getSeed() : ThreadLocalRandom.current().nextLong();
        return new SequenceParams(s.getSeqId(), params, seed, history, s.getPromptLength());
    }

    /** A token as the last stage returns it. */
    static dev.herd.proto.v1.SampledToken toProto(TokenChoice t) {
        dev.herd.proto.v1.SampledToken.Builder b = dev.herd.proto.v1.SampledToken.newBuilder()
                .setSeqId(t.seqId()).setPosition(t.position()).setTokenId(t.token().id());
        if (!Double.isNaN(t.token().logprob())) {
            b.setLogprob((float) t.token().logprob());
        }
        for (SampledToken.TokenLogprob alt : t.token().topLogprobs()) {
            b.addTopLogprobs(TokenLogprob.newBuilder().setTokenId(alt.id()).setLogprob((float) alt.logprob()));
        }
        return b.build();
    }

    /**
     * A token as the coordinator reads it. {@code logprobs} says whether the request asked for them (the wire's
     * 0 is then a real log-probability, else there is none).
     */
    public static SampledToken fromProto(dev.herd.proto.v1.SampledToken t, boolean logprobs) {
        List<SampledToken.TokenLogprob> top = new ArrayList<>(t.getTopLogprobsCount());
        for (TokenLogprob alt : t.getTopLogprobsList()) {
            top.add(new SampledToken.TokenLogprob(alt.getTokenId(), alt.getLogprob()));
        }
        return new SampledToken(t.getTokenId(), logprobs ? t.getLogprob() : Double.NaN, top);
    }
}
