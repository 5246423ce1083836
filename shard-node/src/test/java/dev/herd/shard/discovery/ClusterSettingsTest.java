package dev.herd.shard.discovery;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Hazelcast configuration a member gets: seeds by TCP-IP, or the pods of a Kubernetes service. */
class ClusterSettingsTest {

    @Test
    void seedsJoinByTcpIpWithMulticastOff() {
        Config c = new ClusterSettings("herd", "127.0.0.1", 5801, List.of("10.0.0.1:5801", "10.0.0.2:5801"))
                .toConfig("n1", false, Map.of("herd.node", "n1"));
        JoinConfig join = c.getNetworkConfig().getJoin();
        assertTrue(join.getTcpIpConfig().isEnabled());
        assertEquals(List.of("10.0.0.1:5801", "10.0.0.2:5801"), join.getTcpIpConfig().getMembers());
        assertFalse(join.getMulticastConfig().isEnabled());
        assertFalse(join.getKubernetesConfig().isEnabled());
        assertEquals("n1", c.getMemberAttributeConfig().getAttribute("herd.node"));
    }

    @Test
    void aKubernetesServiceReplacesTheSeeds() {
        JoinConfig join = new ClusterSettings("herd", "0.0.0.0", 5701, List.of(), "herd-shards.inference")
                .toConfig("n1", false, Map.of()).getNetworkConfig().getJoin();
        assertTrue(join.getKubernetesConfig().isEnabled());
        assertEquals("herd-shards", join.getKubernetesConfig().getProperty("service-name"));
        assertEquals("inference", join.getKubernetesConfig().getProperty("namespace"));
        assertFalse(join.getTcpIpConfig().isEnabled());
        JoinConfig sameNamespace = new ClusterSettings("herd", "0.0.0.0", 5701, List.of(), "herd-shards")
                .toConfig("n2", false, Map.of()).getNetworkConfig().getJoin();
        assertEquals("herd-shards", sameNamespace.getKubernetesConfig().getProperty("service-name"));
        assertEquals(null, sameNamespace.getKubernetesConfig().getProperty("namespace"));
    }

    @Test
    void seedsAndAServiceTogetherAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ClusterSettings("herd", "127.0.0.1", 0, List.of("127.0.0.1:5801"), "herd-shards"));
        assertTrue(e.getMessage().contains("not both"), e.getMessage());
    }
}
