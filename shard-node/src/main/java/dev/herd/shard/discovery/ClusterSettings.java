package dev.herd.shard.discovery;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;

import java.util.List;
import java.util.Map;

/**
 * How a process joins the Herd cluster through an embedded Hazelcast member: TCP-IP join to seed addresses,
 * multicast and cloud auto-detection off (they reach for networks a cluster of owned machines does not use),
 * no phone-home. Used by shard nodes and the coordinator alike.
 *
 * @param clusterName  members of other clusters are ignored
 * @param bindHost     the interface to bind, e.g. 127.0.0.1 in tests
 * @param port         Hazelcast port of this member (0: let Hazelcast pick from 5701 up)
 * @param seeds        host:port of members to join through; may include this member
 * @param kubernetes   instead of seeds, find the other members as the pods behind this Kubernetes service
 *                     ({@code name} or {@code name.namespace}, resolved through the Kubernetes API by Hazelcast's
 *                     built-in discovery); null for TCP-IP join to the seeds
 */
public record ClusterSettings(String clusterName, String bindHost, int port, List<String> seeds, String kubernetes) {
    /** TCP-IP join to {@code seeds}. */
    public ClusterSettings(String clusterName, String bindHost, int port, List<String> seeds) {
        this(clusterName, bindHost, port, seeds, null);
    }

    public ClusterSettings {
        seeds = List.copyOf(seeds);
        if (kubernetes != null && (kubernetes.isBlank() || !seeds.isEmpty())) {
            throw new IllegalArgumentException("join through seeds or through a Kubernetes service, not both (service '"
                    + kubernetes + "', seeds " + seeds + ")");
        }
        if (clusterName == null || clusterName.isBlank()) {
            throw new IllegalArgumentException("a cluster name is required");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("bad Hazelcast port " + port);
        }
    }

    /**
     * The Hazelcast configuration of one member.
     *
     * @param instanceName unique within the JVM
     * @param liteMember   true for the coordinator: it watches membership but stores no partitions
     * @param attributes   what this member advertises (see {@link NodeAdvertisement#toAttributes()})
     */
    public Config toConfig(String instanceName, boolean liteMember, Map<String, String> attributes) {
        Config config = new Config(instanceName);
        config.setClusterName(clusterName);
        config.setLiteMember(liteMember);
        config.setProperty("hazelcast.phone.home.enabled", "false");
        config.setProperty("hazelcast.logging.type", "jdk");
        // a member killed without goodbye must be seen gone within seconds, not the default minute
        config.setProperty("hazelcast.heartbeat.interval.seconds", "1");
        config.setProperty("hazelcast.max.no.heartbeat.seconds", "5");
        NetworkConfig net = config.getNetworkConfig();
        net.getInterfaces().setEnabled(true).addInterface(bindHost);
        config.setProperty("hazelcast.socket.bind.any", "false");
        if (port > 0) {
            net.setPort(port).setPortAutoIncrement(false);
        }
        JoinConfig join = net.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        if (kubernetes != null) {
            int dot = kubernetes.indexOf('.');
            var k8s = join.getKubernetesConfig().setEnabled(true)
                    .setProperty("service-name", dot < 0 ? kubernetes : kubernetes.substring(0, dot));
            if (dot >= 0) {
                k8s.setProperty("namespace", kubernetes.substring(dot + 1));
            }
        } else {
            join.getTcpIpConfig().setEnabled(true).setMembers(seeds);
        }
        attributes.forEach((k, v) -> config.getMemberAttributeConfig().setAttribute(k, v));
        return config;
    }
}
