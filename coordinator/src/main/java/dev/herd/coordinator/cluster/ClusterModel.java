package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ModelShape;
import dev.herd.coordinator.plan.WeightTypes;
import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.ModelFormatException;
import dev.herd.shard.ModelDigest;

import java.nio.file.Path;

/**
 * What the coordinator knows of the model the cluster serves: its config (to plan with), the digest every node
 * must report in its hello, and how the weights are stored (to size them). Read once from the file headers; the
 * coordinator holds no weights.
 */
public record ClusterModel(ModelConfig config, String digest, WeightTypes types) {

    public static ClusterModel open(Path model) {
        try (ModelFiles files = ModelFiles.open(model)) {
            return new ClusterModel(files.config(), ModelDigest.of(files.config(), files.store()), types(files));
        }
    }

    public ModelShape shape() {
        return ModelShape.of(config, types);
    }

    /**
     * The stored type of the largest routed-expert tensor and of the largest other matrix: quantized files often
     * give experts a smaller type than the dense weights, and the largest tensors decide the sizes.
     */
    private static WeightTypes types(ModelFiles files) {
        Tensor expert = null;
        Tensor dense = null;
        for (String name : files.store().names()) {
            Tensor t = files.store().get(name);
            if (t.rank() < 2) {
                continue;
            }
            boolean isExpert = name.contains("exps") || name.contains("experts");
            if (isExpert) {
                expert = larger(expert, t);
            } else {
                dense = larger(dense, t);
            }
        }
        if (dense == null) {
            throw new ModelFormatException(files.path() + ": no weight matrix to size the model by");
        }
        DType d = dense.dtype();
        return new WeightTypes(d, expert == null ? d : expert.dtype());
    }

    private static Tensor larger(Tensor a, Tensor b) {
        return a == null || b.elementCount() > a.elementCount() ? b : a;
    }
}
