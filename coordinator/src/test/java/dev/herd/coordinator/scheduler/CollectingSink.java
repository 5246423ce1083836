package dev.herd.coordinator.scheduler;

import dev.herd.model.sampling.SampledToken;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/** Records a request's output; {@link #await} waits (bounded) for the end. */
final class CollectingSink implements GenerationSink {
    final List<List<Integer>> tokens = new ArrayList<>();
    final List<StringBuilder> texts = new ArrayList<>();
    final List<FinishReason> finishes = new ArrayList<>();
    final CompletableFuture<Usage> done = new CompletableFuture<>();
    private final IntConsumer onEachToken;

    CollectingSink(int n) {
        this(n, i -> {
        });
    }

    CollectingSink(int n, IntConsumer onEachToken) {
        this.onEachToken = onEachToken;
        for (int i = 0; i < n; i++) {
            tokens.add(new ArrayList<>());
            texts.add(new StringBuilder());
            finishes.add(null);
        }
    }

    @Override
    public synchronized void onToken(int choice, String text, SampledToken token) {
        if (token != null) {
            tokens.get(choice).add(token.id());
        }
        texts.get(choice).append(text);
        onEachToken.accept(tokens.get(choice).size());
    }

    @Override
    public synchronized void onFinish(int choice, FinishReason reason) {
        if (finishes.get(choice) != null) {
            done.completeExceptionally(new AssertionError("choice " + choice + " finished twice"));
        }
        finishes.set(choice, reason);
    }

    @Override
    public void onComplete(Usage usage) {
        done.complete(usage);
    }

    @Override
    public void onError(String message) {
        done.completeExceptionally(new AssertionError("request failed: " + message));
    }

    Usage await() throws Exception {
        return done.get(30, TimeUnit.SECONDS);
    }

    synchronized int[] ids(int choice) {
        return tokens.get(choice).stream().mapToInt(Integer::intValue).toArray();
    }

    synchronized String text(int choice) {
        return texts.get(choice).toString();
    }
}
