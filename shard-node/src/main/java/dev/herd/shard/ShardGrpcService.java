package dev.herd.shard;

import dev.herd.proto.v1.AssignReply;
import dev.herd.proto.v1.AssignRequest;
import dev.herd.proto.v1.ExpertLoad;
import dev.herd.proto.v1.ExpertRequest;
import dev.herd.proto.v1.ExpertResponse;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.MemoryUsage;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ReadyReply;
import dev.herd.proto.v1.ReadyRequest;
import dev.herd.proto.v1.ReleaseReply;
import dev.herd.proto.v1.ReleaseRequest;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StageFrame;
import dev.herd.proto.v1.StatsReply;
import dev.herd.proto.v1.StatsRequest;
import dev.herd.proto.v1.WireBytes;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.List;
import java.util.Set;

/**
 * {@code ShardService} as a thin adapter: check the hello, convert the request to records, delegate to
 * {@link ShardNode}, convert back. Failures become a proper status (FAILED_PRECONDITION for a refused hello,
 * INVALID_ARGUMENT for a malformed request, INTERNAL for a bug), never a bare exception seen as UNKNOWN.
 */
public final class ShardGrpcService extends ShardServiceGrpc.ShardServiceImplBase {
    private static final Set<NodeRole> ANY = Set.of(NodeRole.NODE_ROLE_COORDINATOR, NodeRole.NODE_ROLE_SHARD);
    private static final Set<NodeRole> COORDINATOR = Set.of(NodeRole.NODE_ROLE_COORDINATOR);

    private final ShardNode node;

    public ShardGrpcService(ShardNode node) {
        this.node = node;
    }

    @Override
    public void handshake(Hello request, StreamObserver<HelloReply> responses) {
        // the answer itself is a HelloReply, so a refusal is a reply with accepted = false, not an error status
        UnaryCalls.answer(responses, () -> node.answer(request, ANY, true));
    }

    @Override
    public StreamObserver<StageFrame> forwardStage(StreamObserver<StageFrame> responses) {
        return new ForwardStageCall(node, (ServerCallStreamObserver<StageFrame>) responses);
    }

    @Override
    public StreamObserver<ExpertRequest> dispatchExperts(StreamObserver<ExpertResponse> responses) {
        return new DispatchExpertsCall(node, (ServerCallStreamObserver<ExpertResponse>) responses);
    }

    @Override
    public void assign(AssignRequest request, StreamObserver<AssignReply> responses) {
        UnaryCalls.answer(responses, () -> {
            requireHello(request.getHello(), COORDINATOR);
            ShardAssignment a;
            try {
                a = Assignments.fromProto(request);
            } catch (IllegalArgumentException e) {
                throw Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException();
            }
            try {
                node.assign(a); // loads in the background; Ready reports progress and failure
            } catch (IllegalArgumentException e) {
                // a well-formed assignment this model cannot take: the coordinator must plan again
                return AssignReply.newBuilder().setAccepted(false).setMessage(e.getMessage()).build();
            }
            return AssignReply.newBuilder().setAccepted(true).build();
        });
    }

    @Override
    public void ready(ReadyRequest request, StreamObserver<ReadyReply> responses) {
        UnaryCalls.answer(responses, () -> {
            requireHello(request.getHello(), ANY);
            Readiness r = node.readiness(request.getPlanEpoch());
            return ReadyReply.newBuilder().setState(r.state()).setServingEpoch(r.servingEpoch())
                    .setMessage(r.message()).setLoadedBytes(r.loadedBytes()).setTotalBytes(r.totalBytes()).build();
        });
    }

    @Override
    public void releaseSequence(ReleaseRequest request, StreamObserver<ReleaseReply> responses) {
        UnaryCalls.answer(responses, () -> {
            requireHello(request.getHello(), ANY);
            if (request.getAllSequences()) {
                return ReleaseReply.newBuilder().setReleased(node.releaseAll()).build();
            }
            List<Long> unknown = node.release(request.getSeqIdsList());
            return ReleaseReply.newBuilder().setReleased(request.getSeqIdsCount() - unknown.size())
                    .addAllUnknownSeqIds(unknown).build();
        });
    }

    @Override
    public void stats(StatsRequest request, StreamObserver<StatsReply> responses) {
        UnaryCalls.answer(responses, () -> {
            requireHello(request.getHello(), ANY);
            NodeStats s = node.stats();
            StatsReply.Builder b = StatsReply.newBuilder()
                    .setPlanEpoch(s.planEpoch())
                    .setQueueDepth(s.queueDepth())
                    .setActiveSequences(s.activeSequences())
                    .setWeights(s.weights().toProto())
                    .addMemory(MemoryUsage.newBuilder().setDevice("cpu").setUsedBytes(s.heapUsedBytes())
                            .setTotalBytes(s.heapMaxBytes()).setKvCacheBytes(s.kvBytes()));
            WireCounters.Snapshot w = node.wire().snapshot();
            b.setWire(WireBytes.newBuilder().setStageInputs(w.stageInputs()).setStageInputBytes(w.stageInputBytes())
                    .setExpertRequests(w.expertRequests()).setExpertRequestBytes(w.expertRequestBytes())
                    .setExpertResponseBytes(w.expertResponseBytes()));
            StageTimes.Snapshot t = node.stageTimes().snapshot();
            b.setStageTimes(dev.herd.proto.v1.StageTimes.newBuilder().setSteps(t.steps())
                    .setQueuedNanos(t.queuedNanos()).setRunNanos(t.runNanos()));
            s.expertLoad().forEach((e, n) -> b.addExpertLoad(ExpertLoad.newBuilder()
                    .setExpert(dev.herd.proto.v1.ExpertRef.newBuilder().setLayer(e.layer()).setExpert(e.expert()))
                    .setTokens(n)));
            return b.build();
        });
    }

    /** Control calls check version, model and role, not the epoch: they are how a node changes epochs. */
    private void requireHello(Hello hello, Set<NodeRole> roles) {
        UnaryCalls.requireAccepted(node.answer(hello, roles, false));
    }
}
