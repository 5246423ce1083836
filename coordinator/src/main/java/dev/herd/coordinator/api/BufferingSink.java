package dev.herd.coordinator.api;

import dev.herd.model.sampling.SampledToken;
import dev.herd.coordinator.scheduler.FinishReason;
import dev.herd.coordinator.scheduler.GenerationSink;
import dev.herd.coordinator.scheduler.Usage;
import io.vertx.core.Context;
import io.vertx.core.http.HttpServerResponse;

import java.util.ArrayList;
import java.util.List;

/** Gathers a request's output on the scheduler thread and answers once, on the request's event-loop context. */
final class BufferingSink implements GenerationSink {
    private final Context context;
    private final HttpServerResponse response;
    private final ResponseBodies bodies;
    private final List<ResponseBodies.ChoiceOutput> choices = new ArrayList<>();

    BufferingSink(Context context, HttpServerResponse response, ResponseBodies bodies, int n) {
        this.context = context;
        this.response = response;
        this.bodies = bodies;
        for (int i = 0; i < n; i++) {
            choices.add(new ResponseBodies.ChoiceOutput());
        }
    }

    @Override
    public void onToken(int choice, String text, SampledToken token) {
        ResponseBodies.ChoiceOutput c = choices.get(choice);
        if (token != null) {
            c.tokens.add(token);
            c.offsets.add(c.text.length());
        }
        c.text.append(text);
    }

    @Override
    public void onFinish(int choice, FinishReason reason) {
        choices.get(choice).finish = reason;
    }

    @Override
    public void onComplete(Usage usage) {
        Object body = bodies.whole(choices, usage);
        context.runOnContext(v -> Responses.sendJson(response, 200, body));
    }

    @Override
    public void onError(String message) {
        context.runOnContext(v -> Responses.sendError(response, new ApiError(500, "server_error", message, null, null)));
    }
}
