package dev.herd.model.tokenizer;

import java.util.Arrays;

/** A growable list of ints, so that encoding long texts does not box every token id. */
final class IntArrayBuilder {
    private int[] data;
    private int size;

    IntArrayBuilder(int capacity) {
        data = new int[Math.max(4, capacity)];
    }

    void add(int value) {
        if (size == data.length) {
            data = Arrays.copyOf(data, data.length * 2);
        }
        data[size++] = value;
    }

    void addAll(int[] values) {
        for (int v : values) {
            add(v);
        }
    }

    int size() {
        return size;
    }

    int get(int index) {
        return data[index];
    }

    int[] toArray() {
        return Arrays.copyOf(data, size);
    }
}
