package dev.herd.coordinator.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.vertx.core.http.HttpServerResponse;

/** Writing JSON and server-sent events. */
final class Responses {
    private Responses() {
    }

    static String json(Object body) {
        try {
            return OpenAiDto.MAPPER.writeValueAsString(body);
        } catch (JsonProcessingException e) {
            // the DTOs are plain records of strings, numbers and lists: failing here is a bug, not bad input
            throw new IllegalStateException("cannot write a response body", e);
        }
    }

    static void sendJson(HttpServerResponse response, int status, Object body) {
        if (response.ended() || response.closed()) {
            return;
        }
        response.setStatusCode(status).putHeader("Content-Type", "application/json").end(json(body));
    }

    static void sendError(HttpServerResponse response, ApiError error) {
        if (response.headWritten()) {
            // a stream already started: report in-band, then end it
            if (!response.ended() && !response.closed()) {
                response.write(event(json(error.body())));
                response.end(event("[DONE]"));
            }
            return;
        }
        sendJson(response, error.status(), error.body());
    }

    /**
     * Starts an event stream. No {@code Connection: keep-alive} header: it is implied on HTTP/1.1 and prohibited
     * on HTTP/2, where clients reject the response.
     */
    static void startEvents(HttpServerResponse response) {
        response.setStatusCode(200).setChunked(true)
                .putHeader("Content-Type", "text/event-stream; charset=utf-8")
                .putHeader("Cache-Control", "no-cache")
                .putHeader("X-Accel-Buffering", "no");
    }

    static String event(String data) {
        return "data: " + data + "\n\n";
    }
}
