package dev.herd.shard;

import dev.herd.proto.v1.StageFrame;
import dev.herd.proto.v1.StepResult;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The result routes callers registered on this node (as a last stage): streams on which the results of routed
 * steps go straight back to the coordinator, one hop, instead of back through every stage before this one.
 */
final class ResultRoutes {
    private final Map<Long, OutboundQueue<StageFrame>> routes = new ConcurrentHashMap<>();

    void register(long route, OutboundQueue<StageFrame> stream) {
        routes.put(route, stream);
    }

    /** Forgets {@code route} if it is still the given stream's (a newer registration stays). */
    void unregister(long route, OutboundQueue<StageFrame> stream) {
        routes.remove(route, stream);
    }

    /**
     * Sends {@code result} on {@code route}; false when there is no such route or its stream has ended, so the
     * caller answers the usual way.
     */
    boolean send(long route, StepResult result) {
        if (route == 0) {
            return false;
        }
        OutboundQueue<StageFrame> stream = routes.get(route);
        return stream != null && stream.send(StageFrame.newBuilder().setResult(result).build());
    }
}
