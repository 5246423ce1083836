package dev.herd.shard.discovery;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import dev.herd.shard.PeerEndpoint;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Finds the nodes that serve model files (they advertise {@code herd.weights}, the model digest, among their
 * member attributes) before this node joins the cluster. A node without the model files must open the model from
 * a holder before it can answer calls, so it looks as a Hazelcast client, which sees the members and their
 * attributes without becoming one: the coordinator plans only with nodes that can already serve.
 */
public final class HolderLookup {
    private HolderLookup() {
    }

    /** Model digests served in the cluster, each with its holders: what was found, and when. */
    public record Found(Map<String, List<PeerEndpoint>> holders) {
        public Found {
            holders = Map.copyOf(holders);
        }

        /**
         * The holders of {@code digest}, or of the only model served when {@code digest} is null.
         *
         * @throws IllegalStateException naming what is served when the choice is not clear
         */
        public Map.Entry<String, List<PeerEndpoint>> choose(String digest) {
            if (digest != null) {
                List<PeerEndpoint> h = holders.get(digest);
                if (h == null || h.isEmpty()) {
                    throw new IllegalStateException("no node serves the files of model " + digest + "; served: "
                            + describe());
                }
                return Map.entry(digest, h);
            }
            if (holders.size() != 1) {
                throw new IllegalStateException(holders.isEmpty() ? "no node in the cluster serves model files"
                        : "nodes serve the files of " + holders.size() + " models (" + describe()
                        + "); name the one to fetch");
            }
            return holders.entrySet().iterator().next();
        }

        private String describe() {
            StringBuilder b = new StringBuilder();
            holders.forEach((d, h) -> b.append(d).append(" by ").append(h).append("; "));
            return b.isEmpty() ? "none" : b.substring(0, b.length() - 2);
        }
    }

    /**
     * Joins as a client through {@code settings}' seeds and waits up to {@code wait} for a node serving model
     * {@code digest} (or any model, when null) to be a member.
     *
     * @return what was found when the wait ended (possibly nothing)
     */
    public static Found find(ClusterSettings settings, String digest, Duration wait) throws InterruptedException {
        ClientConfig config = new ClientConfig();
        config.setClusterName(settings.clusterName());
        config.setProperty("hazelcast.logging.type", "jdk");
        config.setProperty("hazelcast.phone.home.enabled", "false");
        // this node's own member address is a seed too, but nothing listens there until it joins
        List<String> seeds = new ArrayList<>(settings.seeds());
        if (settings.port() > 0) {
            seeds.remove(settings.bindHost() + ":" + settings.port());
        }
        config.getNetworkConfig().setAddresses(seeds);
        config.getConnectionStrategyConfig().getConnectionRetryConfig()
                .setClusterConnectTimeoutMillis(Math.max(1, wait.toMillis()));
        long deadline = System.nanoTime() + wait.toNanos();
        HazelcastInstance client;
        try {
            client = HazelcastClient.newHazelcastClient(config);
        } catch (IllegalStateException e) {
            return new Found(Map.of()); // no member reachable within the wait: nothing is served, as far as we know
        }
        try {
            while (true) {
                Found found = new Found(holders(client.getCluster().getMembers().stream()
                        .map(Member::getAttributes).toList()));
                boolean enough = digest == null ? !found.holders().isEmpty() : found.holders().containsKey(digest);
                if (enough || System.nanoTime() > deadline) {
                    return found;
                }
                Thread.sleep(100);
            }
        } finally {
            client.shutdown();
        }
    }

    /** The holders among members' attributes, by the digest they serve (malformed advertisements skipped). */
    static Map<String, List<PeerEndpoint>> holders(Collection<Map<String, String>> members) {
        Map<String, List<PeerEndpoint>> out = new TreeMap<>();
        for (Map<String, String> attributes : members) {
            if (!NodeAdvertisement.isShardNode(attributes) || !attributes.containsKey(NodeAdvertisement.WEIGHTS)) {
                continue;
            }
            NodeAdvertisement a;
            try {
                a = NodeAdvertisement.fromAttributes(attributes);
            } catch (IllegalArgumentException e) {
                continue; // a node of another version or a misconfigured one: the coordinator shows it as rejected
            }
            out.computeIfAbsent(a.weightsDigest(), d -> new ArrayList<>())
                    .add(new PeerEndpoint(a.nodeId(), a.grpcAddress()));
        }
        return out;
    }
}
