package dev.herd.model.forward;

import java.util.Arrays;

/**
 * Which owner runs each (layer, expert): owner indices into the runner list of a
 * {@link DispatchingExpertSet}. Owner 0 is conventionally this process.
 */
public final class ExpertPlacement {
    private final int[][] owner; // [layer][expert], -1 where the layer has no experts

    private ExpertPlacement(int[][] owner) {
        this.owner = owner;
    }

    /** Every expert of every layer on owner 0. */
    public static ExpertPlacement allOn(int layers, int experts) {
        int[][] o = new int[layers][experts];
        return new ExpertPlacement(o);
    }

    /** From an explicit table {@code [layer][expert] -> owner}. */
    public static ExpertPlacement of(int[][] table) {
        int[][] copy = new int[table.length][];
        for (int l = 0; l < table.length; l++) {
            copy[l] = table[l] == null ? new int[0] : table[l].clone();
        }
        return new ExpertPlacement(copy);
    }

    public int owner(int layer, int expert) {
        if (layer < 0 || layer >= owner.length || expert < 0 || expert >= owner[layer].length) {
            throw new IllegalArgumentException("no placement for layer " + layer + " expert " + expert);
        }
        return owner[layer][expert];
    }

    /** Highest owner index used, plus one. */
    public int owners() {
        return Arrays.stream(owner).flatMapToInt(Arrays::stream).max().orElse(0) + 1;
    }
}
