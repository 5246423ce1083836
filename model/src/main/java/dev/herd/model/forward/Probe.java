package dev.herd.model.forward;

/**
 * Sees named intermediates of a forward pass (like llama.cpp's per-tensor callback), so that a mismatch
 * between two engines can be found layer by layer. The data must not be kept or changed.
 */
@FunctionalInterface
public interface Probe {
    Probe NONE = (name, layer, data, rows, width) -> { };

    /** {@code data} holds {@code rows} rows of {@code width}; layer is -1 outside decoder layers. */
    void on(String name, int layer, float[] data, int rows, int width);
}
