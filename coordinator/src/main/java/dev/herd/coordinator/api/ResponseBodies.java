package dev.herd.coordinator.api;

import dev.herd.model.sampling.SampledToken;
import dev.herd.coordinator.scheduler.FinishReason;
import dev.herd.coordinator.scheduler.Usage;
import dev.herd.model.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds one response's JSON bodies (whole or streamed chunks) for its endpoint. */
final class ResponseBodies {
    private final Endpoint endpoint;
    private final String id;
    private final long created;
    private final String model;
    private final Tokenizer tokenizer;
    private final boolean logprobs;

    ResponseBodies(Endpoint endpoint, String id, long created, String model, Tokenizer tokenizer, boolean logprobs) {
        this.endpoint = endpoint;
        this.id = id;
        this.created = created;
        this.model = model;
        this.tokenizer = tokenizer;
        this.logprobs = logprobs;
    }

    /** One choice's whole output, gathered for a non-streamed answer. */
    static final class ChoiceOutput {
        final StringBuilder text = new StringBuilder();
        final List<SampledToken> tokens = new ArrayList<>();
        final List<Integer> offsets = new ArrayList<>();
        FinishReason finish;
    }

    Object whole(List<ChoiceOutput> choices, Usage usage) {
        OpenAiDto.Usage u = OpenAiDto.Usage.of(usage);
        if (endpoint == Endpoint.CHAT) {
            List<OpenAiDto.ChatChoice> out = new ArrayList<>();
            for (int i = 0; i < choices.size(); i++) {
                ChoiceOutput c = choices.get(i);
                out.add(new OpenAiDto.ChatChoice(i, new OpenAiDto.AssistantMessage("assistant", c.text.toString(), null),
                        chatLogprobs(c.tokens), c.finish.apiName()));
            }
            return new OpenAiDto.ChatCompletion(id, endpoint.object, created, model, out, u);
        }
        List<OpenAiDto.TextChoice> out = new ArrayList<>();
        for (int i = 0; i < choices.size(); i++) {
            ChoiceOutput c = choices.get(i);
            out.add(new OpenAiDto.TextChoice(i, c.text.toString(), textLogprobs(c.tokens, c.offsets),
                    c.finish.apiName()));
        }
        return new OpenAiDto.TextCompletion(id, endpoint.object, created, model, out, u);
    }

    /** The chunk that opens a chat choice (the role), or null for text completions. */
    Object opening(int choice) {
        if (endpoint != Endpoint.CHAT) {
            return null;
        }
        return chatChunk(new OpenAiDto.ChunkChoice(choice, new OpenAiDto.Delta("assistant", ""), null, null));
    }

    Object token(int choice, String text, SampledToken token, int offset) {
        List<SampledToken> tokens = token == null ? List.of() : List.of(token);
        if (endpoint == Endpoint.CHAT) {
            return chatChunk(new OpenAiDto.ChunkChoice(choice, new OpenAiDto.Delta(null, text), chatLogprobs(tokens),
                    null));
        }
        return textChunk(new OpenAiDto.TextChoice(choice, text, textLogprobs(tokens, List.of(offset)), null));
    }

    Object finish(int choice, FinishReason reason) {
        if (endpoint == Endpoint.CHAT) {
            return chatChunk(new OpenAiDto.ChunkChoice(choice, new OpenAiDto.Delta(null, null), null, reason.apiName()));
        }
        return textChunk(new OpenAiDto.TextChoice(choice, "", null, reason.apiName()));
    }

    /** The last chunk when the client asked for usage: no choices, the usage. */
    Object usage(Usage usage) {
        OpenAiDto.Usage u = OpenAiDto.Usage.of(usage);
        if (endpoint == Endpoint.CHAT) {
            return new OpenAiDto.ChatChunk(id, endpoint.chunkObject, created, model, List.of(), u);
        }
        return new OpenAiDto.TextCompletion(id, endpoint.chunkObject, created, model, List.of(), u);
    }

    private OpenAiDto.ChatChunk chatChunk(OpenAiDto.ChunkChoice choice) {
        return new OpenAiDto.ChatChunk(id, endpoint.chunkObject, created, model, List.of(choice), null);
    }

    private OpenAiDto.TextCompletion textChunk(OpenAiDto.TextChoice choice) {
        return new OpenAiDto.TextCompletion(id, endpoint.chunkObject, created, model, List.of(choice), null);
    }

    private OpenAiDto.ChatLogprobs chatLogprobs(List<SampledToken> tokens) {
        if (!logprobs || tokens.isEmpty()) {
            return null;
        }
        List<OpenAiDto.ChatTokenLogprob> content = new ArrayList<>();
        for (SampledToken t : tokens) {
            List<OpenAiDto.TopLogprob> top = new ArrayList<>();
            for (SampledToken.TokenLogprob alt : t.topLogprobs()) {
                String s = tokenText(alt.id());
                top.add(new OpenAiDto.TopLogprob(s, alt.logprob(), bytes(s)));
            }
            String s = tokenText(t.id());
            content.add(new OpenAiDto.ChatTokenLogprob(s, t.logprob(), bytes(s), top));
        }
        return new OpenAiDto.ChatLogprobs(content);
    }

    private OpenAiDto.TextLogprobs textLogprobs(List<SampledToken> tokens, List<Integer> offsets) {
        if (!logprobs || tokens.isEmpty()) {
            return null;
        }
        List<String> texts = new ArrayList<>();
        List<Double> lps = new ArrayList<>();
        List<Map<String, Double>> tops = new ArrayList<>();
        for (SampledToken t : tokens) {
            texts.add(tokenText(t.id()));
            lps.add(t.logprob());
            Map<String, Double> top = new LinkedHashMap<>();
            for (SampledToken.TokenLogprob alt : t.topLogprobs()) {
                top.putIfAbsent(tokenText(alt.id()), alt.logprob());
            }
            tops.add(top);
        }
        return new OpenAiDto.TextLogprobs(texts, lps, tops, offsets);
    }

    /** A token's own text, control tokens spelled out. */
    private String tokenText(int id) {
        return tokenizer.decode(new int[]{id}, false);
    }

    /**
     * The UTF-8 bytes of a token's text, or null when the token holds only part of a character (its text then
     * shows U+FFFD, and the bytes cannot be recovered from it).
     */
    private static List<Integer> bytes(String text) {
        if (text.indexOf('\uFFFD') >= 0) {
            return null;
        }
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        List<Integer> out = new ArrayList<>(b.length);
        for (byte x : b) {
            out.add(x & 0xff);
        }
        return out;
    }
}
