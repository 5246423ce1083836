package dev.herd.shard.discovery;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.cluster.Member;
import dev.herd.shard.PeerEndpoint;

import java.util.List;

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

    /** Nodes that serve the files of model {@code digest}, as the membership is now (this node excluded). */
    public List<PeerEndpoint> weightHolders(String digest) {
        return HolderLookup.holders(hazelcast.getCluster().getMembers().stream()
                .filter(m -> !m.localMember()).map(Member::getAttributes).toList()).getOrDefault(digest, List.of());
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
