package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import io.prometheus.client.exporter.HTTPServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A node's /metrics after it served a prompt: what Prometheus scrapes must match the node's own stats. */
class NodeMetricsTest {
    static final long EPOCH = 3;

    @TempDir
    Path dir;

    @Test
    void scrapedMetricsShowTheEpochTheSequenceAndTheExpertRows() throws Exception {
        Path model = TestModels.write(dir, Architecture.MIXTRAL);
        try (ReferenceBackend backend = new ReferenceBackend(1);
             LocalCluster cluster = new LocalCluster(model, backend)) {
            LocalCluster.Node n = cluster.start("n1");
            ModelConfig c = cluster.config();
            n.node().assignAndWait(ShardAssignment.stage(EPOCH, new LayerRange(0, c.numLayers()),
                    HandshakeTest.allExperts(c), true, true, null, List.of()));
            try (PipelineDriver driver = new PipelineDriver(n.server().address(), n.node().identity().modelDigest(),
                    EPOCH)) {
                driver.prefill(1, TestModels.PROMPT);
            }
            HTTPServer server = NodeMetrics.serve(n.node(), "127.0.0.1", 0);
            try {
                HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.getPort() + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode());
                String text = r.body();
                assertTrue(text.contains("herd_node_plan_epoch{node=\"n1\",} 3.0"), text);
                assertTrue(text.contains("herd_node_sequences{node=\"n1\",} 1.0"), text);
                // every prompt row went through top-k experts of every layer
                long routed = n.node().stats().expertLoad().values().stream().mapToLong(Long::longValue).sum();
                assertEquals((long) TestModels.PROMPT.length * c.moe().topK() * c.numLayers(), routed);
                assertTrue(text.contains("herd_node_expert_rows_total{node=\"n1\",layer=\"0\",expert=\""), text);
                assertTrue(text.contains("herd_node_stage_steps_total{node=\"n1\",} 1.0"), "one step ran: " + text);
                long kv = n.node().stats().kvBytes();
                assertTrue(kv > 0, "the prompt's keys and values are held: " + kv);
                assertTrue(text.contains("herd_node_kv_bytes{node=\"n1\",} " + (double) kv), text);
                assertTrue(text.contains("herd_node_stage_seconds_total{node=\"n1\",phase=\"run\",}"), text);
            } finally {
                server.close();
            }
        }
    }
}
