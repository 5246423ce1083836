package dev.herd.shard;

import dev.herd.kernels.Tensor;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.config.QkNorm;
import dev.herd.model.safetensors.SafetensorsFile;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelWeights;
import dev.herd.model.weights.TensorNames;
import dev.herd.model.weights.WeightStore;
import dev.herd.shard.weights.StoredTensor;
import dev.herd.shard.weights.TensorIndex;
import dev.herd.shard.weights.TensorPiece;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The tensors a node's part of a plan needs, by checkpoint name, in the model's index order: what a node that
 * cannot see the model files fetches before loading the part. It lists exactly what {@link NodePart} makes
 * {@link ModelWeights} resolve for the part (a {@link ModelWeights.Part} per stage and per run of expert-only
 * layers); a tensor missing from it would fail the load by name, never compute with zeros.
 *
 * <p>Where a GGUF file stacks a layer's routed experts in one tensor ({@code ffn_{gate,up,down}_exps}, shape
 * {@code [experts, rows, cols]}), a held expert needs only its slice, named {@code blk.N.ffn_up_exps.weight[e]}
 * ({@link TensorPiece}): exactly the bytes {@code ModelWeights} takes for it with {@code Tensor.slice}. Llama 4's
 * fused Hugging Face experts are stored (experts, in, out) and still travel whole.
 */
public final class AssignmentTensors {
    private AssignmentTensors() {
    }

    public static List<String> of(ShardAssignment a, ModelConfig c, CheckpointFormat format, TensorIndex index) {
        TensorNames names = TensorNames.of(c.arch(), format, new NamesOnly(index));
        Set<String> need = new HashSet<>();
        Map<String, TreeSet<Long>> slices = new HashMap<>();
        if (a.isStage()) {
            for (int l = a.layers().start(); l < a.layers().end(); l++) {
                layer(need, names, c, l);
            }
            if (a.embedding()) {
                need.add(names.embedding());
            }
            if (a.lmHead()) {
                need.add(names.finalNorm());
                need.add(index.contains(names.lmHead()) ? names.lmHead() : names.embedding());
            }
            if (format == CheckpointFormat.GGUF && index.contains(names.ropeFreqs())) {
                need.add(names.ropeFreqs()); // the stage's Transformer reads them when the file has them
            }
        }
        for (ExpertRef e : a.experts()) {
            if (format == CheckpointFormat.GGUF) {
                for (String part : List.of("gate", "up", "down")) {
                    String stacked = names.stackedExperts(e.layer(), part);
                    // the expert's slice alone where it can be cut out; a name the index lacks fails the load
                    boolean sliceable = index.find(stacked).map(StoredTensor::sliceable).orElse(false);
                    if (sliceable) {
                        slices.computeIfAbsent(stacked, k -> new TreeSet<>()).add((long) e.expert());
                    } else {
                        need.add(stacked);
                    }
                }
            } else if (index.contains(names.fusedGateUp(e.layer()))) {
                need.add(names.fusedGateUp(e.layer()));
                need.add(names.fusedDown(e.layer()));
            } else {
                for (String part : List.of("gate", "up", "down")) {
                    need.add(names.expert(e.layer(), e.expert(), part));
                }
            }
        }
        for (String n : List.copyOf(need)) {
            if (index.find(n).map(t -> t.dtype().equals("F8_E4M3")).orElse(false)) {
                for (String scale : SafetensorsFile.scaleNames(n)) {
                    if (index.contains(scale)) {
                        need.add(scale);
                    }
                }
            }
        }
        // a name the index lacks stays out: loading the part then fails naming it, as it does from files
        List<String> out = new ArrayList<>();
        for (String n : index.names()) {
            if (need.contains(n)) {
                out.add(n);
            }
            for (long k : slices.getOrDefault(n, new TreeSet<>())) {
                out.add(TensorPiece.key(n, k));
            }
        }
        return out;
    }

    private static void layer(Set<String> need, TensorNames names, ModelConfig c, int l) {
        need.add(names.attnNorm(l));
        need.add(names.ffnNorm(l));
        need.add(names.wq(l));
        need.add(names.wk(l));
        need.add(names.wv(l));
        need.add(names.wo(l));
        if (c.qkNorm() == QkNorm.RMS_WEIGHTED) {
            need.add(names.qNorm(l));
            need.add(names.kNorm(l));
        }
        if (c.layer(l).moe()) {
            need.add(names.router(l));
            if (c.moe().sharedExpertFfnDim() > 0) {
                for (String part : List.of("gate", "up", "down")) {
                    need.add(names.shared(l, part));
                }
            }
        } else {
            for (String part : List.of("gate", "up", "down")) {
                need.add(names.dense(l, part));
            }
        }
    }

    /** The index's names as a store, for {@link TensorNames#of}, which looks at names only. */
    private record NamesOnly(TensorIndex index) implements WeightStore {
        @Override
        public Set<String> names() {
            return index.names();
        }

        @Override
        public Optional<Tensor> find(String name) {
            throw new UnsupportedOperationException("names only");
        }

        @Override
        public String describe() {
            return "tensor index";
        }

        @Override
        public void close() {
        }
    }
}
