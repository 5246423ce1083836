package dev.herd.coordinator.api;

import java.util.List;

/**
 * How the HTTP API listens.
 *
 * @param host         address to bind (127.0.0.1 keeps it local)
 * @param port         port, 0 for any free one
 * @param apiKeys      accepted bearer keys; empty means no authentication
 * @param maxBodyBytes larger request bodies get 413
 */
public record ApiSettings(String host, int port, List<String> apiKeys, long maxBodyBytes) {
    public static final long DEFAULT_MAX_BODY_BYTES = 4L << 20;

    public ApiSettings {
        apiKeys = List.copyOf(apiKeys);
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be between 0 and 65535, got " + port);
        }
        if (maxBodyBytes < 1) {
            throw new IllegalArgumentException("the body limit must be positive, got " + maxBodyBytes);
        }
        if (apiKeys.stream().anyMatch(String::isBlank)) {
            throw new IllegalArgumentException("API keys must not be blank");
        }
    }

    public static ApiSettings local(int port) {
        return new ApiSettings("127.0.0.1", port, List.of(), DEFAULT_MAX_BODY_BYTES);
    }
}
