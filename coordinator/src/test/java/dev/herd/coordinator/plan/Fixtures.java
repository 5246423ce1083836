package dev.herd.coordinator.plan;

import dev.herd.kernels.DType;
import dev.herd.model.config.HfConfigReader;
import dev.herd.model.config.ModelConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Real model configs (the model module's test fixtures) and small clusters to plan them on. */
final class Fixtures {
    static final double GB = 1e9;
    /** A commodity server: 50 GB/s memory, 10 GbE with 100 µs round trips. */
    static final double CPU_BANDWIDTH = 50;
    static final Link ETHERNET = new Link(10, 100);

    private Fixtures() {
    }

    static ModelConfig config(String file) {
        // surefire runs in the module directory; the fixtures belong to the model module next to it
        Path dir = Path.of(System.getProperty("basedir", ".")).resolve("../model/src/test/resources/configs").normalize();
        Path path = dir.resolve(file);
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("model config fixture not found: " + path.toAbsolutePath());
        }
        return HfConfigReader.read(path);
    }

    static ModelShape shape(String file, DType type) {
        return ModelShape.of(config(file), WeightTypes.all(type));
    }

    static NodeCapacity cpu(String id, double gb) {
        return new NodeCapacity(NodeId.of(id), (long) (gb * GB), NodeBackend.CPU, CPU_BANDWIDTH, ETHERNET);
    }

    static NodeCapacity gpu(String id, double gb, double bandwidthGBps) {
        return new NodeCapacity(NodeId.of(id), (long) (gb * GB), NodeBackend.CUDA, bandwidthGBps, ETHERNET);
    }

    static ClusterState cluster(NodeCapacity... nodes) {
        return ClusterState.of(List.of(nodes));
    }

    /** {@code count} equal CPU nodes named n0, n1, ... */
    static ClusterState equalCpus(int count, double gb) {
        NodeCapacity[] nodes = new NodeCapacity[count];
        for (int i = 0; i < count; i++) {
            nodes[i] = cpu("n" + i, gb);
        }
        return cluster(nodes);
    }

    static ShardPlan plan(ModelShape shape, ClusterState cluster) {
        return Planner.plan(shape, cluster, ExpertLoad.uniform(), PlanOptions.defaults(), 1);
    }
}
