package dev.herd.coordinator.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.util.List;
import java.util.Map;

/**
 * The response bodies of the OpenAI API as records; field names are written in snake case by {@link #MAPPER}.
 * Requests are read field by field in {@link OpenAiRequests}, which can name the offending field in an error.
 */
public final class OpenAiDto {
    private OpenAiDto() {
    }

    /** Snake-case names, nulls written (OpenAI writes {@code "logprobs": null}) unless a field says otherwise. */
    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            .build();

    public record ErrorResponse(ErrorDetail error) {
    }

    public record ErrorDetail(String message, String type, String param, String code) {
    }

    public record ModelList(String object, List<ModelCard> data) {
    }

    public record ModelCard(String id, String object, long created, String ownedBy) {
    }

    public record Usage(int promptTokens, int completionTokens, int totalTokens) {
        static Usage of(dev.herd.coordinator.scheduler.Usage u) {
            return new Usage(u.promptTokens(), u.completionTokens(), u.totalTokens());
        }
    }

    // chat completions

    public record ChatCompletion(String id, String object, long created, String model, List<ChatChoice> choices,
                                 Usage usage) {
    }

    public record ChatChoice(int index, AssistantMessage message, ChatLogprobs logprobs, String finishReason) {
    }

    public record AssistantMessage(String role, String content, String refusal) {
    }

    public record ChatLogprobs(List<ChatTokenLogprob> content) {
    }

    public record ChatTokenLogprob(String token, double logprob, List<Integer> bytes, List<TopLogprob> topLogprobs) {
    }

    public record TopLogprob(String token, double logprob, List<Integer> bytes) {
    }

    public record ChatChunk(String id, String object, long created, String model, List<ChunkChoice> choices,
                            @JsonInclude(JsonInclude.Include.NON_NULL) Usage usage) {
    }

    public record ChunkChoice(int index, Delta delta, ChatLogprobs logprobs, String finishReason) {
    }

    /** A streamed piece of the assistant message; absent fields are left out ({@code {}} on the last chunk). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Delta(String role, String content) {
    }

    // text completions

    public record TextCompletion(String id, String object, long created, String model, List<TextChoice> choices,
                                 @JsonInclude(JsonInclude.Include.NON_NULL) Usage usage) {
    }

    public record TextChoice(int index, String text, TextLogprobs logprobs, String finishReason) {
    }

    /** The legacy completions log-probability layout: parallel lists, alternatives as token-to-logprob maps. */
    public record TextLogprobs(List<String> tokens, List<Double> tokenLogprobs, List<Map<String, Double>> topLogprobs,
                               List<Integer> textOffset) {
    }
}
