package dev.herd.shard;

import io.prometheus.client.Collector;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.CounterMetricFamily;
import io.prometheus.client.GaugeMetricFamily;
import io.prometheus.client.exporter.HTTPServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * A shard node's state for Prometheus, read from the node at scrape time (so the data path pays nothing for it):
 * plan epoch, queue depth, sequences held, heap, rows per expert, and the bytes it put on the wire.
 */
public final class NodeMetrics extends Collector {
    private final ShardNode node;

    public NodeMetrics(ShardNode node) {
        this.node = node;
    }

    @Override
    public List<MetricFamilySamples> collect() {
        NodeStats s = node.stats();
        WireCounters.Snapshot w = node.wire().snapshot();
        String id = node.identity().nodeId();
        GaugeMetricFamily epoch = new GaugeMetricFamily("herd_node_plan_epoch", "Plan epoch this node serves (0: none)",
                List.of("node"));
        epoch.addMetric(List.of(id), s.planEpoch());
        GaugeMetricFamily queue = new GaugeMetricFamily("herd_node_queue_depth",
                "Stage steps and expert requests received but not yet run", List.of("node"));
        queue.addMetric(List.of(id), s.queueDepth());
        GaugeMetricFamily sequences = new GaugeMetricFamily("herd_node_sequences",
                "Sequences with a KV cache on this node", List.of("node"));
        sequences.addMetric(List.of(id), s.activeSequences());
        GaugeMetricFamily heap = new GaugeMetricFamily("herd_node_heap_bytes", "JVM heap", List.of("node", "kind"));
        heap.addMetric(List.of(id, "used"), s.heapUsedBytes());
        heap.addMetric(List.of(id, "max"), s.heapMaxBytes());
        GaugeMetricFamily kv = new GaugeMetricFamily("herd_node_kv_bytes",
                "Native memory of the node's KV block store (keys and values, outside the heap)", List.of("node"));
        kv.addMetric(List.of(id), s.kvBytes());
        CounterMetricFamily rows = new CounterMetricFamily("herd_node_expert_rows",
                "Rows run through each held expert in the current plan epoch (restarts with each epoch)",
                List.of("node", "layer", "expert"));
        s.expertLoad().forEach((e, n) -> rows.addMetric(List.of(id, Integer.toString(e.layer()),
                Integer.toString(e.expert())), n));
        CounterMetricFamily messages = new CounterMetricFamily("herd_node_wire_messages",
                "Data-path messages this node sent", List.of("node", "kind"));
        messages.addMetric(List.of(id, "stage_input"), w.stageInputs());
        messages.addMetric(List.of(id, "expert_request"), w.expertRequests());
        CounterMetricFamily bytes = new CounterMetricFamily("herd_node_wire_bytes",
                "Data-path bytes (gRPC messages) this node sent or, for expert responses, received",
                List.of("node", "kind"));
        bytes.addMetric(List.of(id, "stage_input"), w.stageInputBytes());
        bytes.addMetric(List.of(id, "expert_request"), w.expertRequestBytes());
        bytes.addMetric(List.of(id, "expert_response"), w.expertResponseBytes());
        StageTimes.Snapshot t = node.stageTimes().snapshot();
        CounterMetricFamily steps = new CounterMetricFamily("herd_node_stage_steps",
                "Pipeline steps this node ran as a stage", List.of("node"));
        steps.addMetric(List.of(id), t.steps());
        CounterMetricFamily stageSeconds = new CounterMetricFamily("herd_node_stage_seconds",
                "Time of this node's pipeline steps: waiting for the stage worker (queued) and running (run)",
                List.of("node", "phase"));
        stageSeconds.addMetric(List.of(id, "queued"), t.queuedNanos() / 1e9);
        stageSeconds.addMetric(List.of(id, "run"), t.runNanos() / 1e9);
        return List.of(epoch, queue, sequences, heap, kv, rows, messages, bytes, steps, stageSeconds);
    }

    /**
     * Serves {@code /metrics} for {@code node} on {@code host:port} (0: any free port) until closed.
     *
     * @throws UncheckedIOException when the port cannot be bound
     */
    public static HTTPServer serve(ShardNode node, String host, int port) {
        CollectorRegistry registry = new CollectorRegistry();
        new NodeMetrics(node).register(registry);
        try {
            return new HTTPServer(new InetSocketAddress(host, port), registry, true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve metrics on " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }
}
