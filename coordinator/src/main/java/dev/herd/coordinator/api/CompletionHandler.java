package dev.herd.coordinator.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.herd.coordinator.scheduler.GenerationRequest;
import dev.herd.coordinator.scheduler.GenerationSink;
import dev.herd.coordinator.scheduler.RequestHandle;
import dev.herd.coordinator.scheduler.RequestRejectedException;
import dev.herd.model.chat.ChatMessage;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;

import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: an adapter from the OpenAI request to a
 * {@link GenerationRequest} and from the scheduler's events back to OpenAI JSON. Parsing runs on the event loop
 * (bodies are bounded); template rendering and tokenization, which grow with the prompt, run on a worker thread.
 */
final class CompletionHandler implements Handler<RoutingContext> {
    private final Endpoint endpoint;
    private final Supplier<ServedModel> model;

    CompletionHandler(Endpoint endpoint, Supplier<ServedModel> model) {
        this.endpoint = endpoint;
        this.model = model;
    }

    /** A parsed request, whichever endpoint it came from. */
    private record Parsed(OpenAiRequests.Options options, List<ChatMessage> messages, String prompt, int[] promptIds) {
    }

    @Override
    public void handle(RoutingContext ctx) {
        ServedModel served = model.get();
        JsonNode body = OpenAiRequests.parseJson(ctx.body().buffer() == null ? new byte[0]
                : ctx.body().buffer().getBytes());
        Parsed parsed;
        if (endpoint == Endpoint.CHAT) {
            OpenAiRequests.ChatRequest r = OpenAiRequests.chat(body);
            parsed = new Parsed(r.options(), r.messages(), null, null);
        } else {
            OpenAiRequests.TextRequest r = OpenAiRequests.text(body);
            parsed = new Parsed(r.options(), null, r.prompt(), r.promptIds());
        }
        if (!parsed.options().model().equals(served.name())) {
            throw new ApiError(404, "invalid_request_error", "the model '" + parsed.options().model()
                    + "' does not exist; this server serves '" + served.name() + "'", "model", "model_not_found");
        }
        PromptEncoder encoder = new PromptEncoder(served.tokenizer(), served.chatTemplate());
        ctx.vertx().executeBlocking(() -> encode(encoder, parsed, served), false).onComplete(ar -> {
            if (ar.failed()) {
                ctx.fail(ar.cause());
                return;
            }
            try {
                submit(ctx, served, parsed, ar.result());
            } catch (RuntimeException e) {
                ctx.fail(e);
            }
        });
    }

    private static int[] encode(PromptEncoder encoder, Parsed parsed, ServedModel served) {
        if (parsed.messages() != null) {
            return encoder.encodeChat(parsed.messages());
        }
        if (parsed.prompt() != null) {
            return encoder.encodeText(parsed.prompt());
        }
        int vocab = served.tokenizer().vocabSize();
        for (int i = 0; i < parsed.promptIds().length; i++) {
            if (parsed.promptIds()[i] >= vocab) {
                throw ApiError.invalid("prompt", "prompt[" + i + "] = " + parsed.promptIds()[i]
                        + " is outside the vocabulary of " + vocab + " tokens");
            }
        }
        return parsed.promptIds();
    }

    private void submit(RoutingContext ctx, ServedModel served, Parsed parsed, int[] prompt) {
        OpenAiRequests.Options o = parsed.options();
        String promptParam = endpoint == Endpoint.CHAT ? "messages" : "prompt";
        if (prompt.length == 0) {
            throw ApiError.invalid(promptParam, "the prompt encodes to no tokens");
        }
        int context = served.contextLength();
        if (prompt.length >= context) {
            throw ApiError.invalid(promptParam, "the prompt has " + prompt.length + " tokens; this model's context"
                    + " holds " + context + " tokens, prompt and completion together", "context_length_exceeded");
        }
        int maxTokens = o.maxTokens() != null ? o.maxTokens() : context - prompt.length;
        if ((long) prompt.length + maxTokens > context) {
            throw ApiError.invalid(endpoint == Endpoint.CHAT ? "max_completion_tokens" : "max_tokens",
                    "the prompt has " + prompt.length + " tokens and " + maxTokens + " more were asked for; this"
                            + " model's context holds " + context + " tokens", "context_length_exceeded");
        }
        String id = endpoint.idPrefix + UUID.randomUUID().toString().replace("-", "");
        GenerationRequest request = new GenerationRequest(id, prompt, o.sampling(), maxTokens, o.stop(), o.n());
        ResponseBodies bodies = new ResponseBodies(endpoint, id, System.currentTimeMillis() / 1000, served.name(),
                served.tokenizer(), o.sampling().logprobs());
        Context context0 = ctx.vertx().getOrCreateContext();
        HttpServerResponse response = ctx.response();
        GenerationSink sink;
        StreamingSink stream = null;
        if (o.stream()) {
            stream = new StreamingSink(context0, response, bodies, o.n(), o.includeUsage(), o.sampling().logprobs());
            sink = stream;
        } else {
            sink = new BufferingSink(context0, response, bodies, o.n());
        }
        RequestHandle handle;
        try {
            handle = served.scheduler().submit(request, sink);
        } catch (RequestRejectedException e) {
            throw switch (e.reason()) {
                case QUEUE_FULL -> new ApiError(429, "rate_limit_error", e.getMessage(), null, "queue_full");
                case PROMPT_TOO_LONG -> ApiError.invalid(promptParam, e.getMessage(), "context_length_exceeded");
                case SHUTTING_DOWN -> new ApiError(503, "server_error", e.getMessage(), null, "shutting_down");
                case MODEL_UNAVAILABLE -> new ApiError(503, "server_error", e.getMessage(), null, "model_not_ready");
            };
        } catch (dev.herd.model.sampling.InvalidSamplingParameterException e) {
            throw ApiError.invalid(e.param(), e.getMessage());
        }
        // a client that goes away cancels its request: its sequences leave the batch and free their blocks
        response.closeHandler(v -> handle.cancel());
        if (response.closed()) {
            handle.cancel();
            return;
        }
        if (stream != null) {
            stream.start();
        }
    }
}
