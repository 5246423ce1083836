package dev.herd.model.sampling;

/**
 * A sampling parameter out of its range. Carries the parameter's OpenAI name so the HTTP layer can answer
 * with a 400 that names the field.
 */
public final class InvalidSamplingParameterException extends IllegalArgumentException {
    private final String param;

    public InvalidSamplingParameterException(String param, String message) {
        super(message);
        this.param = param;
    }

    /** The request field, as the OpenAI API spells it ({@code top_p}, {@code temperature}, ...). */
    public String param() {
        return param;
    }
}
