package dev.herd.coordinator.api;

import dev.herd.model.sampling.SampledToken;
import dev.herd.coordinator.scheduler.FinishReason;
import dev.herd.coordinator.scheduler.GenerationSink;
import dev.herd.coordinator.scheduler.Usage;
import io.vertx.core.Context;
import io.vertx.core.http.HttpServerResponse;

/**
 * Streams a request's output as server-sent events: every scheduler event hops to the request's event-loop
 * context (the scheduler thread never touches the connection), in order.
 */
final class StreamingSink implements GenerationSink {
    private final Context context;
    private final HttpServerResponse response;
    private final ResponseBodies bodies;
    private final boolean includeUsage;
    private final boolean logprobs;
    /** Characters emitted per choice (text_offset of the next token); the scheduler thread's. */
    private final int[] emitted;

    StreamingSink(Context context, HttpServerResponse response, ResponseBodies bodies, int n, boolean includeUsage,
                  boolean logprobs) {
        this.context = context;
        this.response = response;
        this.bodies = bodies;
        this.includeUsage = includeUsage;
        this.logprobs = logprobs;
        this.emitted = new int[n];
    }

    /** Sends the headers and each choice's opening chunk; on the event loop, right after the request was accepted. */
    void start() {
        Responses.startEvents(response);
        boolean wrote = false;
        for (int i = 0; i < emitted.length; i++) {
            Object opening = bodies.opening(i);
            if (opening != null) {
                write(opening);
                wrote = true;
            }
        }
        if (!wrote) {
            response.writeHead(); // text completions open with no chunk: commit the headers so the client sees the stream
        }
    }

    @Override
    public void onToken(int choice, String text, SampledToken token) {
        if (text.isEmpty() && !(logprobs && token != null)) {
            return; // nothing a client could see (held back, or part of a character)
        }
        int offset = emitted[choice];
        emitted[choice] += text.length();
        context.runOnContext(v -> write(bodies.token(choice, text, token, offset)));
    }

    @Override
    public void onFinish(int choice, FinishReason reason) {
        context.runOnContext(v -> write(bodies.finish(choice, reason)));
    }

    @Override
    public void onComplete(Usage usage) {
        context.runOnContext(v -> {
            if (includeUsage) {
                write(bodies.usage(usage));
            }
            if (!response.ended() && !response.closed()) {
                response.end(Responses.event("[DONE]"));
            }
        });
    }

    @Override
    public void onError(String message) {
        context.runOnContext(v -> Responses.sendError(response, new ApiError(500, "server_error", message, null, null)));
    }

    private void write(Object body) {
        if (!response.ended() && !response.closed()) {
            response.write(Responses.event(Responses.json(body)));
        }
    }
}
