package dev.herd.coordinator.metrics;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.Histogram;

/**
 * The serving metrics, registered in the registry given (never the process-wide default, so tests and several
 * servers in one process stay apart). Thread-safe: the HTTP layer and the scheduler both record.
 */
public final class ServingMetrics {
    private final Counter requests;
    private final Counter promptTokens;
    private final Counter generatedTokens;
    private final Counter preemptions;
    private final Counter cachedPromptTokens;
    private final Histogram timeToFirstToken;
    private final Gauge queueDepth;
    private final Gauge runningSequences;
    private final Gauge kvBlocks;

    /** Why the model cannot serve now, or null; read at scrape time. Unset until a scheduler reports it. */
    private volatile java.util.function.Supplier<String> unavailable;

    public ServingMetrics(CollectorRegistry registry) {
        new io.prometheus.client.Collector() {
            @Override
            public java.util.List<MetricFamilySamples> collect() {
                var supplier = unavailable;
                if (supplier == null) {
                    return java.util.List.of();
                }
                var g = new io.prometheus.client.GaugeMetricFamily("herd_model_available",
                        "1 while the model can run steps (a cluster serves a plan), else 0", java.util.List.of());
                g.addMetric(java.util.List.of(), supplier.get() == null ? 1 : 0);
                return java.util.List.of(g);
            }
        }.register(registry);
        requests = Counter.build("herd_requests_total", "HTTP requests answered, by endpoint and status code")
                .labelNames("endpoint", "status").register(registry);
        promptTokens = Counter.build("herd_prompt_tokens_total", "Prompt tokens accepted for generation")
                .register(registry);
        generatedTokens = Counter.build("herd_generated_tokens_total", "Tokens generated, over all choices")
                .register(registry);
        preemptions = Counter.build("herd_preemptions_total",
                "Sequences preempted for lack of KV blocks (freed, requeued and recomputed)").register(registry);
        timeToFirstToken = Histogram.build("herd_time_to_first_token_seconds",
                        "From accepting a request to its first generated token")
                .buckets(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60).register(registry);
        cachedPromptTokens = Counter.build("herd_cached_prompt_tokens_total",
                "Prompt positions copied from a cached prefix instead of computed").register(registry);
        queueDepth = Gauge.build("herd_queue_depth", "Accepted requests waiting to start").register(registry);
        runningSequences = Gauge.build("herd_running_sequences", "Sequences holding KV blocks").register(registry);
        kvBlocks = Gauge.build("herd_kv_blocks", "KV cache blocks by state").labelNames("state").register(registry);
    }

    /** An HTTP request was answered with {@code status} (499 when the client went away first). */
    public void request(String endpoint, int status) {
        requests.labels(endpoint, Integer.toString(status)).inc();
    }

    public void promptTokens(int n) {
        promptTokens.inc(n);
    }

    public void generatedTokens(int n) {
        generatedTokens.inc(n);
    }

    /** Reports availability from now on: {@code why} gives the reason the model cannot serve, or null. */
    public void availability(java.util.function.Supplier<String> why) {
        unavailable = why;
    }

    public void cachedPromptTokens(int n) {
        cachedPromptTokens.inc(n);
    }

    public void preemption() {
        preemptions.inc();
    }

    public void timeToFirstToken(double seconds) {
        timeToFirstToken.observe(seconds);
    }

    public void queueDepth(int queued) {
        queueDepth.set(queued);
    }

    /** The scheduler's state after a step. */
    public void schedulerState(int queued, int running, int kvUsed, int kvCached, int kvFree) {
        queueDepth.set(queued);
        runningSequences.set(running);
        kvBlocks.labels("used").set(kvUsed);
        kvBlocks.labels("cached").set(kvCached);
        kvBlocks.labels("free").set(kvFree);
    }
}
