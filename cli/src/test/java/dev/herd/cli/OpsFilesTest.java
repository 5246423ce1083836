package dev.herd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.herd.coordinator.metrics.ServingMetrics;
import dev.herd.kernels.DType;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.shard.ModelSource;
import dev.herd.shard.NodeMetrics;
import dev.herd.shard.NodeSettings;
import dev.herd.shard.ShardNode;
import io.prometheus.client.Collector;
import io.prometheus.client.CollectorRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The deployment files under ops/ stay true to the code: every command line in the Kubernetes manifests parses
 * with the real CLI, every metric an alert uses is one the coordinator or a shard node exports, and the files the
 * Dockerfile copies exist.
 */
class OpsFilesTest {
    private static final Path ROOT = Path.of(System.getProperty("basedir", ".")).resolve("..").normalize();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @TempDir
    Path dir;

    private static List<JsonNode> documents(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (it.hasNext()) {
                JsonNode doc = it.next();
                if (doc != null && !doc.isNull() && !doc.isEmpty()) {
                    out.add(doc);
                }
            }
        }
        return out;
    }

    @Test
    void everyContainerCommandLineInTheKubernetesManifestsParses() throws IOException {
        int containers = 0;
        for (JsonNode doc : documents(ROOT.resolve("ops/kubernetes/herd.yaml"))) {
            for (JsonNode c : doc.path("spec").path("template").path("spec").path("containers")) {
                List<String> args = new ArrayList<>();
                c.path("args").forEach(a -> args.add(a.asText()));
                CommandLine cl = Herd.commandLine();
                CommandLine.ParseResult parsed = cl.parseArgs(args.toArray(String[]::new));
                assertTrue(parsed.hasSubcommand(), c.path("name") + ": " + args);
                containers++;
            }
        }
        assertEquals(2, containers, "the shard StatefulSet and the coordinator Deployment");
    }

    @Test
    void everyMetricTheAlertsUseIsExported() throws IOException {
        Set<String> exported = new HashSet<>();
        CollectorRegistry registry = new CollectorRegistry();
        new ServingMetrics(registry).availability(() -> null);
        Path model = new TestModelWriter(TestModelSpec.small(Architecture.MIXTRAL)).writeGguf(dir.resolve("m.gguf"),
                DType.F32);
        try (ModelFiles files = ModelFiles.open(model);
             ReferenceBackend backend = new ReferenceBackend(1);
             ShardNode node = new ShardNode(NodeSettings.of("n1", backend), ModelSource.of(files))) {
            new NodeMetrics(node).register(registry);
            for (Collector.MetricFamilySamples f : Collections.list(registry.metricFamilySamples())) {
                exported.add(f.name);
                if (f.type == Collector.Type.COUNTER) {
                    exported.add(f.name + "_total"); // a labelled counter has no samples before its first use
                }
                f.samples.forEach(s -> exported.add(s.name));
            }
        }
        Set<String> used = new TreeSet<>();
        Pattern metric = Pattern.compile("\\bherd_[a-z_]+");
        for (JsonNode doc : documents(ROOT.resolve("ops/prometheus/herd-alerts.yml"))) {
            for (JsonNode group : doc.path("groups")) {
                for (JsonNode rule : group.path("rules")) {
                    Matcher m = metric.matcher(rule.path("expr").asText());
                    while (m.find()) {
                        used.add(m.group());
                    }
                }
            }
        }
        assertTrue(used.size() >= 5, "the alerts use the metrics: " + used);
        for (String name : used) {
            assertTrue(exported.contains(name), name + " is not exported; exported: " + new TreeSet<>(exported));
        }
    }

    @Test
    void whatTheDockerfileCopiesExists() throws IOException {
        Pattern copy = Pattern.compile("^COPY --from=build /src/(\\S+)(?: /src/(\\S+))? ", Pattern.MULTILINE);
        Matcher m = copy.matcher(Files.readString(ROOT.resolve("ops/docker/Dockerfile")));
        int files = 0;
        while (m.find()) {
            for (int g = 1; g <= 2; g++) {
                String f = m.group(g);
                if (f != null && !f.startsWith("cli/target/")) {
                    assertTrue(Files.isRegularFile(ROOT.resolve(f)), f);
                    files++;
                }
            }
        }
        assertEquals(2, files, "bin/herd and bin/java-home.sh");
    }
}
