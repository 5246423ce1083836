package dev.herd.coordinator.scheduler;

import java.util.List;

/**
 * Finds stop strings in streamed text. Text that could be the start of a stop string is held back until the
 * next piece shows whether it is; a stop string is never returned, nor anything after it.
 *
 * <p>Why holding back the longest suffix that is a prefix of some stop string is enough: any occurrence of a stop
 * string that began in text already returned would make a suffix of the text at that time a prefix of the stop,
 * longer than the one held, which contradicts the choice of the longest.
 */
final class StopMatcher {
    private final List<String> stops;
    private String held = "";
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops;
    }

    /** Feeds more text; returns the text that can be emitted now (before the stop string once one matched). */
    String push(String text) {
        if (stopped) {
            return "";
        }
        if (stops.isEmpty()) {
            return text;
        }
        String buffer = held + text;
        int first = -1;
        for (String stop : stops) {
            int at = buffer.indexOf(stop);
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        if (first >= 0) {
            stopped = true;
            held = "";
            return buffer.substring(0, first);
        }
        int hold = 0;
        for (String stop : stops) {
            for (int len = Math.min(stop.length() - 1, buffer.length()); len > hold; len--) {
                if (buffer.regionMatches(buffer.length() - len, stop, 0, len)) {
                    hold = len;
                    break;
                }
            }
        }
        // never split a surrogate pair between what is returned and what is held
        int cut = buffer.length() - hold;
        if (cut > 0 && cut < buffer.length() && Character.isHighSurrogate(buffer.charAt(cut - 1))) {
            cut--;
        }
        held = buffer.substring(cut);
        return buffer.substring(0, cut);
    }

    /** Whether a stop string matched. */
    boolean stopped() {
        return stopped;
    }

    /** The sequence ended without a stop: returns the text still held back. */
    String flush() {
        String out = held;
        held = "";
        return out;
    }
}
