package dev.herd.coordinator.scheduler;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StopMatcherTest {
    @Test
    void holdsBackWhatCouldStartAStopAndDropsTheStop() {
        StopMatcher m = new StopMatcher(List.of("END", "\n\n"));
        assertEquals("Hello ", m.push("Hello E"));
        assertEquals("", m.push("N"));
        assertEquals("ENx ", m.push("x E"), "ENx is not END: the held text comes out");
        assertEquals("", m.push("ND wor"), "the held 'E' and 'ND' complete END: nothing of it comes out");
        assertTrue(m.stopped());
        assertEquals("", m.push("more"));
    }

    @Test
    void aStopSplitOverManyPiecesIsFound() {
        StopMatcher m = new StopMatcher(List.of("<stop>"));
        StringBuilder out = new StringBuilder();
        for (String piece : new String[]{"ab<", "s", "t", "o", "p", ">cd"}) {
            out.append(m.push(piece));
        }
        assertEquals("ab", out.toString());
        assertTrue(m.stopped());
    }

    @Test
    void theEarliestOfSeveralStopsWins() {
        StopMatcher m = new StopMatcher(List.of("cd", "b"));
        assertEquals("a", m.push("abcd"));
    }

    @Test
    void flushReleasesHeldTextWhenNoStopCame() {
        StopMatcher m = new StopMatcher(List.of("xyz"));
        assertEquals("ab", m.push("abxy"));
        assertFalse(m.stopped());
        assertEquals("xy", m.flush());
    }

    @Test
    void noStopsPassTextThrough() {
        StopMatcher m = new StopMatcher(List.of());
        assertEquals("anything", m.push("anything"));
        assertEquals("", m.flush());
    }
}
