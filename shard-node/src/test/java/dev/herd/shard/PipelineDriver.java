package dev.herd.shard;

import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.SamplingParams;
import dev.herd.proto.v1.SequenceSampling;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StepResult;
import io.grpc.ManagedChannel;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** What the coordinator does on the data path, for one sequence: token ids in, chosen token ids out. */
final class PipelineDriver implements AutoCloseable {
    private final ManagedChannel channel;
    private final StageClient client;
    private final long epoch;
    private final WireCounters sent = new WireCounters();
    private long stepIds;

    PipelineDriver(String firstStage, String modelDigest, long epoch) {
        this.channel = PeerChannels.open(firstStage);
        this.epoch = epoch;
        this.client = StageClient.open(channel,
                new NodeIdentity("coordinator", modelDigest).hello(epoch, NodeRole.NODE_ROLE_COORDINATOR),
                "first stage at " + firstStage, sent);
    }

    /** Results of later steps come straight from the last stage at {@code lastStage} on route {@code route}. */
    PipelineDriver routeFrom(String lastStage, String modelDigest, long route) {
        client.routeResultsFrom(PeerChannels.open(lastStage),
                new NodeIdentity("coordinator", modelDigest).hello(epoch, NodeRole.NODE_ROLE_COORDINATOR),
                "last stage at " + lastStage, route);
        return this;
    }

    /** Bytes the coordinator sent into the pipeline. */
    WireCounters.Snapshot sent() {
        return sent.snapshot();
    }

    HelloReply hello() throws Exception {
        return client.hello().get(10, TimeUnit.SECONDS);
    }

    /** The whole prompt in one step; the chosen next token. */
    StepResult prefill(long seq, int[] prompt) throws Exception {
        ActivationFrame.Builder f = frame(prompt.length);
        StageInput.Builder in = StageInput.newBuilder();
        for (int i = 0; i < prompt.length; i++) {
            f.addSeqIds(seq).addPositions(i);
            in.addTokenIds(prompt[i]);
        }
        in.setFrame(f).addSampleRows(prompt.length - 1).addSampling(SequenceSampling.newBuilder().setSeqId(seq)
                .setParams(SamplingParams.newBuilder().setTemperature(0f)));
        return send(in.build());
    }

    /** One token at {@code position}; the chosen next token. */
    StepResult decode(long seq, int position, int token) throws Exception {
        ActivationFrame.Builder f = frame(1).addSeqIds(seq).addPositions(position);
        return send(StageInput.newBuilder().setFrame(f).addTokenIds(token).addSampleRows(0).build());
    }

    private ActivationFrame.Builder frame(int rows) {
        return ActivationFrame.newBuilder().setPlanEpoch(epoch).setStepId(++stepIds).setRows(rows).setCols(0);
    }

    StepResult send(StageInput input) throws Exception {
        try {
            return client.step(input).get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof StepFailedException s) {
                throw s;
            }
            throw e;
        } catch (TimeoutException e) {
            throw new AssertionError("step " + input.getFrame().getStepId() + " was not answered in 30 s", e);
        }
    }

    @Override
    public void close() {
        client.close();
        channel.shutdownNow();
    }
}
