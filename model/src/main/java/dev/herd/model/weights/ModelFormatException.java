package dev.herd.model.weights;

/**
 * A model file or directory Herd cannot use: truncated, corrupt, of an unsupported kind, or not matching
 * its own description. The message names the file and, where there is one, the tensor or key.
 */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
