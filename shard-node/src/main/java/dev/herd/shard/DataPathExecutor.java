package dev.herd.shard;

import dev.herd.proto.v1.ShardServiceGrpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;

import java.util.Set;
import java.util.concurrent.Executor;

/**
 * Where gRPC runs the callbacks of the activation streams: on the transport's own thread. By default gRPC hands
 * every message from the transport thread to an executor thread, and on the per-token path that hand-off is paid
 * at every hop and for every relayed result (each wake-up of an idle thread costs tens of microseconds, more
 * on virtual machines). The stream callbacks only decode, enqueue or complete a future; steps themselves run on
 * the node's stage and expert workers, so nothing blocks a transport thread. Control and weight-transfer calls
 * (loading, file I/O) keep gRPC's executor.
 */
final class DataPathExecutor {
    /** Runs the callback where it is delivered. */
    static final Executor DIRECT = Runnable::run;

    private static final Set<String> STREAMS = Set.of(
            ShardServiceGrpc.getForwardStageMethod().getFullMethodName(),
            ShardServiceGrpc.getDispatchExpertsMethod().getFullMethodName());

    private DataPathExecutor() {
    }

    /** For a server: the activation streams run directly, every other call on the default executor. */
    static ServerCallExecutorSupplier server() {
        return new ServerCallExecutorSupplier() {
            @Override
            public <ReqT, RespT> Executor getExecutor(ServerCall<ReqT, RespT> call, Metadata metadata) {
                return STREAMS.contains(call.getMethodDescriptor().getFullMethodName()) ? DIRECT : null;
            }
        };
    }
}
