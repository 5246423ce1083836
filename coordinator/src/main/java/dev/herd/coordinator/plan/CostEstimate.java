package dev.herd.coordinator.plan;

import java.io.Serializable;

/**
 * What the cost model expects of a plan for one stream decoding one token (see docs/planner.md).
 *
 * @param secondsPerToken        weights streamed, remote expert calls and stage hops, one after another
 * @param networkBytesPerToken   expected bytes on the network: hidden vectors between stages and to and from
 *                               remote experts
 * @param roundTripsPerToken     expected remote expert round trips
 * @param bottleneckStageSeconds the slowest stage's share (hops aside): what bounds throughput once the
 *                               pipeline is full of streams
 */
public record CostEstimate(double secondsPerToken, double networkBytesPerToken, double roundTripsPerToken,
                           double bottleneckStageSeconds) implements Serializable {
    public double tokensPerSecond() {
        return 1 / secondsPerToken;
    }
}
