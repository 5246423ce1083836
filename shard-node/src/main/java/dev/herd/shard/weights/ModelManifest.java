package dev.herd.shard.weights;

import dev.herd.model.weights.CheckpointFormat;
import dev.herd.proto.v1.DescribeModelRequest;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.ListTensorsReply;
import dev.herd.proto.v1.ListTensorsRequest;
import dev.herd.proto.v1.ModelDescription;
import dev.herd.proto.v1.ModelFile;
import dev.herd.proto.v1.TensorInfo;
import dev.herd.proto.v1.WeightTransferGrpc;
import io.grpc.Channel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * What a holder says about its model before any tensor moves: the layout, the small files the config is read
 * from, and the tensor index. A node without the model directory opens the model from this (see
 * {@link TensorCache#open}) and checks it against the digest the holder advertised.
 *
 * @param format  Hugging Face directory or GGUF file
 * @param files   {@code config.json}, or {@code header.gguf}, verbatim
 * @param index   every tensor of the model
 * @param hashes  SHA-256s the holder already knew when it listed (by tensor name); most are unknown
 * @param digest  the model digest the holder was asked under
 */
public record ModelManifest(CheckpointFormat format, Map<String, byte[]> files, TensorIndex index,
                            Map<String, String> hashes, String digest) {
    public ModelManifest {
        files = Collections.unmodifiableMap(new LinkedHashMap<>(files));
        hashes = Map.copyOf(hashes);
    }

    /**
     * Asks a holder ({@code DescribeModel}, then {@code ListTensors} of everything).
     *
     * @param hello this node's hello, carrying the digest of the model it wants
     * @throws io.grpc.StatusRuntimeException as the holder or the transport answered
     * @throws IllegalArgumentException       when the holder's answer cannot describe a model
     */
    public static ModelManifest describe(Channel holder, Hello hello, Duration deadline) {
        WeightTransferGrpc.WeightTransferBlockingStub stub = WeightTransferGrpc.newBlockingStub(holder);
        ModelDescription d = stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                .describeModel(DescribeModelRequest.newBuilder().setHello(hello).build());
        ListTensorsReply list = stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                .listTensors(ListTensorsRequest.newBuilder().setHello(hello).build());
        CheckpointFormat format = switch (d.getLayout()) {
            case MODEL_LAYOUT_HUGGING_FACE -> CheckpointFormat.HUGGING_FACE;
            case MODEL_LAYOUT_GGUF -> CheckpointFormat.GGUF;
            default -> throw new IllegalArgumentException("the holder describes its model with layout "
                    + d.getLayoutValue() + ", which this node does not know");
        };
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (ModelFile f : d.getFilesList()) {
            files.put(f.getName(), f.getData().toByteArray());
        }
        String needed = format == CheckpointFormat.GGUF ? ModelFileNames.GGUF_HEADER : ModelFileNames.HF_CONFIG;
        if (!files.containsKey(needed)) {
            throw new IllegalArgumentException("the holder's model description has no " + needed + " (it sent "
                    + files.keySet() + ")");
        }
        List<StoredTensor> tensors = new ArrayList<>();
        Map<String, String> hashes = new LinkedHashMap<>();
        for (TensorInfo t : list.getTensorsList()) {
            tensors.add(StoredTensor.fromProto(t));
            if (!t.getSha256().isEmpty()) {
                hashes.put(t.getName(), t.getSha256());
            }
        }
        return new ModelManifest(format, files, new TensorIndex(tensors), hashes, hello.getModelDigest());
    }
}
