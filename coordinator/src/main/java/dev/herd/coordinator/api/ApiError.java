package dev.herd.coordinator.api;

/**
 * An error answered in OpenAI's shape, {@code {"error": {"message", "type", "param", "code"}}}, with its HTTP status.
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiError(int status, String type, String message, String param, String code) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: a field is missing, of the wrong type or out of range; {@code param} names it. */
    public static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", message, param, null);
    }

    /** 400 with a machine-readable code. */
    public static ApiError invalid(String param, String message, String code) {
        return new ApiError(400, "invalid_request_error", message, param, code);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /** The JSON body. */
    public OpenAiDto.ErrorResponse body() {
        return new OpenAiDto.ErrorResponse(new OpenAiDto.ErrorDetail(getMessage(), type, param, code));
    }
}
