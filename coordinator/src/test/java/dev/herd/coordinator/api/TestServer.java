package dev.herd.coordinator.api;

import dev.herd.coordinator.TestModel;
import dev.herd.coordinator.metrics.ServingMetrics;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.Scheduler;
import dev.herd.coordinator.scheduler.SchedulerSettings;
import io.prometheus.client.CollectorRegistry;
import io.vertx.core.Vertx;

import java.util.concurrent.TimeUnit;

/** An API server on a free loopback port over the test model, with its own scheduler and registry. */
final class TestServer implements AutoCloseable {
    static final String MODEL = "herd-test-mixtral";

    final CollectorRegistry registry = new CollectorRegistry();
    final ServingMetrics metrics = new ServingMetrics(registry);
    final Scheduler scheduler;
    final ApiServer api;
    final int port;

    TestServer(Vertx vertx, TestModel model, ApiSettings settings, SchedulerSettings schedulerSettings,
               boolean ready) throws Exception {
        this(vertx, model, ModelRunner.local(model.transformer), settings, schedulerSettings, ready);
    }

    /** A server whose scheduler runs {@code runner} (this process's model, or a cluster's). */
    TestServer(Vertx vertx, TestModel model, ModelRunner runner, ApiSettings settings,
               SchedulerSettings schedulerSettings, boolean ready) throws Exception {
        scheduler = new Scheduler(runner, model.tokenizer(), model.eos, schedulerSettings, metrics);
        api = new ApiServer(vertx, settings, metrics, registry);
        port = api.start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        if (ready) {
            makeReady(model);
        }
    }

    void makeReady(TestModel model) {
        api.ready(new ServedModel(MODEL, model.tokenizer(), model.bundle.chatTemplate(),
                model.bundle.files().config().maxPositions(), scheduler, 1_700_000_000L));
    }

    String url(String path) {
        return "http://127.0.0.1:" + port + path;
    }

    @Override
    public void close() {
        try {
            api.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("the test server did not close", e);
        } finally {
            scheduler.close();
        }
    }
}
