package dev.herd.shard.discovery;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;

/** A shard node's embedded Hazelcast member, advertising the node's capacity as member attributes. */
public final class NodeMembership implements AutoCloseable {
    private final HazelcastInstance hazelcast;

    private NodeMembership(HazelcastInstance hazelcast) {
        this.hazelcast = hazelcast;
    }

    public static NodeMembership join(ClusterSettings settings, NodeAdvertisement advertisement) {
        return new NodeMembership(Hazelcast.newHazelcastInstance(
                settings.toConfig("herd-node-" + advertisement.nodeId(), false, advertisement.toAttributes())));
    }

    /** Members this node sees, itself included. */
    public int clusterSize() {
        return hazelcast.getCluster().getMembers().size();
    }

    /** Leaves without saying goodbye, as a crashed node would (for failure tests). */
    public void crash() {
        hazelcast.getLifecycleService().terminate();
    }

    @Override
    public void close() {
        hazelcast.shutdown();
    }
}
