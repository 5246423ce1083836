package dev.herd.cli.bench;

import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.ModelSequence;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DecodeLoopTest {

    /** A model whose next token is (7 * last + 1) mod 100; it records what each step was given. */
    static class Recording implements ModelRunner {
        final List<String> events = new ArrayList<>();
        int computed;

        @Override
        public ModelSequence open(SamplingParams params, long seed, int[] history, int promptLength) {
            events.add("open " + Arrays.toString(history) + " greedy=" + params.greedyChoice());
            return () -> computed;
        }

        @Override
        public List<SampledToken> step(List<Work> items) {
            assertEquals(1, items.size(), "one sequence per step");
            Work w = items.getFirst();
            assertTrue(w.sample(), "every step samples");
            assertEquals(computed, w.sequence().computed());
            events.add("step " + Arrays.toString(w.tokens()));
            computed += w.tokens().length;
            return List.of(new SampledToken((7 * w.tokens()[w.tokens().length - 1] + 1) % 100, 0, List.of()));
        }

        @Override
        public void release(ModelSequence sequence) {
            events.add("release");
        }

        @Override
        public int vocabSize() {
            return 100;
        }

        @Override
        public int contextLength() {
            return 1000;
        }
    }

    @Test
    void prefillsThenFeedsBackEachTokenAndTimesOnlyTheDecodeSteps() {
        Recording model = new Recording();
        DecodeLoop.Run run = DecodeLoop.run(model, new int[]{3, 4, 5}, 3,
                decodeStarts -> model.events.add(decodeStarts ? "decode starts" : "decode ends"));
        // 5 -> 36 -> 53 -> 72 -> 5 (7x + 1 mod 100)
        assertArrayEquals(new int[]{36, 53, 72, 5}, run.tokens());
        assertEquals(List.of("open [3, 4, 5] greedy=true", "step [3, 4, 5]", "decode starts", "step [36]",
                "step [53]", "step [72]", "decode ends", "release"), model.events);
        assertEquals(3, run.stepNanos().length);
        assertTrue(Arrays.stream(run.stepNanos()).allMatch(n -> n > 0));
        double seconds = Arrays.stream(run.stepNanos()).sum() / 1e9;
        assertEquals(3 / seconds, run.decodeTokensPerSecond(), 1e-9 * (3 / seconds));
    }

    @Test
    void theSequenceIsReleasedWhenAStepFails() {
        Recording model = new Recording() {
            @Override
            public List<SampledToken> step(List<Work> items) {
                if (computed > 0) {
                    throw new IllegalStateException("node lost");
                }
                return super.step(items);
            }
        };
        assertThrows(IllegalStateException.class, () -> DecodeLoop.run(model, new int[]{1}, 2, d -> { }));
        assertEquals("release", model.events.getLast());
    }

    @Test
    void emptyPromptsAndNoStepsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> DecodeLoop.run(new Recording(), new int[0], 1, d -> { }));
        assertThrows(IllegalArgumentException.class, () -> DecodeLoop.run(new Recording(), new int[]{1}, 0, d -> { }));
    }
}
