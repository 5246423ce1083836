package dev.herd.proto.v1;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * One example of every message of the contracts with every field set to a non-default value (and, for
 * messages with a oneof, one example per case), so round-trip tests notice a field that does not survive.
 */
final class Samples {

    private Samples() {}

    static Hello hello() {
        return Hello.newBuilder()
                .setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE)
                .setModelDigest("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
                .setPlanEpoch(7)
                .setNodeId("node-a")
                .setRole(NodeRole.NODE_ROLE_SHARD)
                .build();
    }

    static HelloReply refusal() {
        return HelloReply.newBuilder()
                .setAccepted(true) // every field must be non-default; a real refusal has accepted false
                .setReason(RefusalReason.REFUSAL_REASON_PLAN_EPOCH_STALE)
                .setMessage("peer node-a works on plan epoch 7, this node serves epoch 8")
                .setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE)
                .setModelDigest("ab")
                .setPlanEpoch(8)
                .setNodeId("node-b")
                .build();
    }

    /** Little-endian F32 bytes of {@code values}, written independently of the code under test. */
    static ByteString f32(float... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buffer.putFloat(v);
        }
        return ByteString.copyFrom(buffer.array());
    }

    static ActivationFrame expertFrame() {
        return ActivationFrame.newBuilder()
                .setPlanEpoch(7)
                .setStepId(1234567890123L)
                .setLayer(3)
                .addAllSeqIds(List.of(11L, 12L))
                .addAllPositions(List.of(40, 9))
                .setDtype(DType.DTYPE_F32)
                .setRows(2)
                .setCols(3)
                .setData(f32(1f, -2f, 0.5f, 3f, 0f, -0.25f))
                .addAllRoutedRows(List.of(0, 0, 1))
                .addAllRoutedExperts(List.of(5, 17, 5))
                .addAllRoutedWeights(List.of(0.75f, 0.25f, 1f))
                .setCombine(CombineMode.COMBINE_MODE_PER_EXPERT)
                .build();
    }

    static FrameFailure failure() {
        return FrameFailure.newBuilder()
                .setPlanEpoch(7)
                .setStepId(99)
                .setLayer(4)
                .addSeqIds(11)
                .setReason(FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE)
                .setMessage("node-b has no KV cache for sequence 11")
                .build();
    }

    static SamplingParams samplingParams() {
        return SamplingParams.newBuilder()
                .setTemperature(0.7f)
                .setTopP(0.9f)
                .setTopK(40)
                .setMinP(0.05f)
                .setSeed(42)
                .setPresencePenalty(0.5f)
                .setFrequencyPenalty(0.25f)
                .setRepetitionPenalty(1.1f)
                .setLogprobs(true)
                .setTopLogprobs(5)
                .putLogitBias(50256, -100f)
                .build();
    }

    static SequenceSampling sequenceSampling() {
        return SequenceSampling.newBuilder()
                .setSeqId(11)
                .setParams(samplingParams())
                .addAllHistory(List.of(1, 15043, 3186))
                .setPromptLength(2)
                .build();
    }

    static TokenLogprob tokenLogprob() {
        return TokenLogprob.newBuilder().setTokenId(3186).setLogprob(-0.125f).build();
    }

    static SampledToken sampledToken() {
        return SampledToken.newBuilder()
                .setSeqId(11)
                .setPosition(41)
                .setTokenId(29889)
                .setLogprob(-0.5f)
                .addTopLogprobs(tokenLogprob())
                .build();
    }

    static StepResult stepResult() {
        // a routed answer carries no tokens; both are set here only so that the round trip covers every field
        return StepResult.newBuilder().setPlanEpoch(7).setStepId(99).addTokens(sampledToken()).setRouted(true).build();
    }

    static ResultRoute resultRoute() {
        return ResultRoute.newBuilder().setRoute(0x5eed_cafe_f00dL).build();
    }

    static StageTimes stageTimes() {
        return StageTimes.newBuilder().setSteps(1200).setQueuedNanos(61_000_000L).setRunNanos(7_800_000_000L).build();
    }

    static StageInput stageInput() {
        return StageInput.newBuilder()
                .setFrame(expertFrame())
                .addAllTokenIds(List.of(1, 2))
                .addSampleRows(1)
                .addSampling(sequenceSampling())
                .addForks(sequenceFork())
                .addReleaseAfter(11)
                .setResultRoute(0x5eed_cafe_f00dL)
                .build();
    }

    static SequenceFork sequenceFork() {
        return SequenceFork.newBuilder().setSeqId(12).setSourceSeqId(11).setPositions(32).build();
    }

    static LayerRange layerRange() {
        return LayerRange.newBuilder().setStart(8).setEnd(16).build();
    }

    static ExpertRef expertRef() {
        return ExpertRef.newBuilder().setLayer(9).setExpert(63).build();
    }

    static PeerEndpoint peer(String id) {
        return PeerEndpoint.newBuilder().setNodeId(id).setAddress("10.0.0.7:7443").build();
    }

    static ExpertPeer expertPeer() {
        return ExpertPeer.newBuilder().setPeer(peer("node-c")).addExperts(expertRef()).build();
    }

    static AssignRequest assignRequest() {
        return AssignRequest.newBuilder()
                .setHello(hello())
                .setPlanEpoch(7)
                .setLayers(layerRange())
                .addExperts(expertRef())
                .setEmbedding(true)
                .setLmHead(true)
                .setNextStage(peer("node-d"))
                .addExpertPeers(expertPeer())
                .addWeightPeers(peer("node-e"))
                .build();
    }

    static AssignReply assignReply() {
        return AssignReply.newBuilder().setAccepted(true).setMessage("loading 12.5 GB").build();
    }

    static ReadyRequest readyRequest() {
        return ReadyRequest.newBuilder().setHello(hello()).setPlanEpoch(7).build();
    }

    static ReadyReply readyReply() {
        return ReadyReply.newBuilder()
                .setState(NodeState.NODE_STATE_LOADING)
                .setServingEpoch(6)
                .setLoadedBytes(1L << 33)
                .setTotalBytes(3L << 33)
                .setMessage("fetching blk.9.ffn_down_exps.weight from node-e")
                .build();
    }

    static ReleaseRequest releaseRequest() {
        return ReleaseRequest.newBuilder().setHello(hello()).addAllSeqIds(List.of(11L, 12L)).setAllSequences(true)
                .build();
    }

    static ReleaseReply releaseReply() {
        return ReleaseReply.newBuilder().setReleased(1).addUnknownSeqIds(12).build();
    }

    static StatsRequest statsRequest() {
        return StatsRequest.newBuilder().setHello(hello()).build();
    }

    static ExpertLoad expertLoad() {
        return ExpertLoad.newBuilder().setExpert(expertRef()).setTokens(123_456_789_012L).build();
    }

    static MemoryUsage memoryUsage() {
        return MemoryUsage.newBuilder()
                .setDevice("cuda:0")
                .setUsedBytes(70L << 30)
                .setTotalBytes(80L << 30)
                .setWeightBytes(60L << 30)
                .setKvCacheBytes(8L << 30)
                .build();
    }

    static StatsReply statsReply() {
        return StatsReply.newBuilder()
                .setPlanEpoch(7)
                .addExpertLoad(expertLoad())
                .setQueueDepth(3)
                .addMemory(memoryUsage())
                .setActiveSequences(17)
                .setWeights(weightCounters())
                .setWire(wireBytes())
                .setStageTimes(stageTimes())
                .build();
    }

    static WireBytes wireBytes() {
        return WireBytes.newBuilder()
                .setStageInputs(1200)
                .setStageInputBytes(1200L * 8235)
                .setExpertRequests(38400)
                .setExpertRequestBytes(38400L * 8230)
                .setExpertResponseBytes(38400L * 2 * 8225)
                .build();
    }

    static WeightCounters weightCounters() {
        return WeightCounters.newBuilder()
                .setResolvedTensors(291)
                .setResolvedBytes(12L << 30)
                .setReceivedTensors(200)
                .setReceivedBytes(9L << 30)
                .setCachedTensors(91)
                .setCachedBytes(3L << 30)
                .setServedTensors(40)
                .setServedBytes(2L << 30)
                .build();
    }

    static DescribeModelRequest describeModelRequest() {
        return DescribeModelRequest.newBuilder().setHello(hello()).build();
    }

    static ModelFile modelFile() {
        return ModelFile.newBuilder().setName("config.json")
                .setData(ByteString.copyFromUtf8("{\"model_type\": \"mixtral\"}")).build();
    }

    static ModelDescription modelDescription() {
        return ModelDescription.newBuilder().setLayout(ModelLayout.MODEL_LAYOUT_HUGGING_FACE).addFiles(modelFile())
                .build();
    }

    static ListTensorsRequest listTensorsRequest() {
        return ListTensorsRequest.newBuilder().setHello(hello()).addNames("blk.0.attn_q.weight").build();
    }

    static TensorInfo tensorInfo() {
        return TensorInfo.newBuilder()
                .setName("blk.0.ffn_down_exps.weight")
                .setDtype("Q4_K")
                .addAllShape(List.of(8L, 4096L, 14336L))
                .setByteSize(8L * 4096 * 14336 / 256 * 144)
                .setSha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .build();
    }

    static ListTensorsReply listTensorsReply() {
        return ListTensorsReply.newBuilder().addTensors(tensorInfo()).addMissing("output.weight").build();
    }

    /** Whole tensors, then a slice of stacked experts: what a node holding some of a layer's experts asks for. */
    static TensorRequest tensorRequest() {
        return TensorRequest.newBuilder().setHello(hello()).addNames("token_embd.weight").setOffset(1 << 20)
                .addPieces(tensorPiece())
                .build();
    }

    static TensorPiece tensorPiece() {
        return TensorPiece.newBuilder().setName("blk.0.ffn_up_exps.weight").setSlice(5).build();
    }

    /** The last chunk of slice 5 (one routed expert) of a stacked tensor, with the slice's own SHA-256. */
    static TensorChunk tensorChunk() {
        return TensorChunk.newBuilder()
                .setName("blk.0.ffn_up_exps.weight")
                .setSlice(5)
                .setOffset(1 << 20)
                .setData(ByteString.copyFrom(new byte[] {1, 2, 3}))
                .setTotalSize((1 << 20) + 3)
                .setSha256("03")
                .build();
    }

    /** Every sample, oneof cases included; each oneof case of each message appears at least once. */
    static List<Message> all() {
        return List.of(
                hello(),
                refusal(),
                expertFrame(),
                failure(),
                samplingParams(),
                sequenceSampling(),
                tokenLogprob(),
                sampledToken(),
                stepResult(),
                resultRoute(),
                stageTimes(),
                stageInput(),
                sequenceFork(),
                StageFrame.newBuilder().setHello(hello()).build(),
                StageFrame.newBuilder().setHelloReply(refusal()).build(),
                StageFrame.newBuilder().setInput(stageInput()).build(),
                StageFrame.newBuilder().setResult(stepResult()).build(),
                StageFrame.newBuilder().setFailure(failure()).build(),
                StageFrame.newBuilder().setRoute(resultRoute()).build(),
                ExpertRequest.newBuilder().setHello(hello()).build(),
                ExpertRequest.newBuilder().setFrame(expertFrame()).build(),
                ExpertResponse.newBuilder().setHelloReply(refusal()).build(),
                ExpertResponse.newBuilder().setFrame(expertFrame()).build(),
                ExpertResponse.newBuilder().setFailure(failure()).build(),
                layerRange(),
                expertRef(),
                peer("node-c"),
                expertPeer(),
                assignRequest(),
                assignReply(),
                readyRequest(),
                readyReply(),
                releaseRequest(),
                releaseReply(),
                statsRequest(),
                expertLoad(),
                memoryUsage(),
                statsReply(),
                weightCounters(),
                describeModelRequest(),
                modelFile(),
                modelDescription(),
                wireBytes(),
                listTensorsRequest(),
                tensorInfo(),
                listTensorsReply(),
                tensorRequest(),
                tensorPiece(),
                tensorChunk());
    }
}
