package dev.herd.shard.discovery;

import dev.herd.shard.PeerEndpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A node without the model files finds the nodes serving them through the cluster (loopback Hazelcast): before it
 * joins, as a client, and once joined, from the live membership.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class HolderLookupTest {
    static final String MODEL = "ab".repeat(32);
    static final String OTHER = "cd".repeat(32);

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void holdersAreFoundByTheModelTheyServe() throws Exception {
        int hPort = freePort();
        int nPort = freePort();
        List<String> seeds = List.of("127.0.0.1:" + hPort, "127.0.0.1:" + nPort);
        String name = "herd-lookup-" + hPort;
        ClusterSettings holderSettings = new ClusterSettings(name, "127.0.0.1", hPort, seeds);
        try (NodeMembership holder = NodeMembership.join(holderSettings,
                new NodeAdvertisement("holder", "127.0.0.1:7001", 20L << 30, "cpu", 40, 10, 200).servingWeights(MODEL))) {
            HolderLookup.Found found = HolderLookup.find(new ClusterSettings(name, "127.0.0.1", 0, seeds), null,
                    Duration.ofSeconds(30));
            PeerEndpoint expected = new PeerEndpoint("holder", "127.0.0.1:7001");
            assertEquals(Map.of(MODEL, List.of(expected)), found.holders());
            assertEquals(Map.entry(MODEL, List.of(expected)), found.choose(null));
            assertEquals(Map.entry(MODEL, List.of(expected)), found.choose(MODEL));
            IllegalStateException other = assertThrows(IllegalStateException.class, () -> found.choose(OTHER));
            assertTrue(other.getMessage().contains(OTHER) && other.getMessage().contains(MODEL), other.getMessage());

            try (NodeMembership fetcher = NodeMembership.join(new ClusterSettings(name, "127.0.0.1", nPort, seeds),
                    new NodeAdvertisement("fetcher", "127.0.0.1:7002", 20L << 30, "cpu", 40, 10, 200))) {
                assertEquals(List.of(expected), fetcher.weightHolders(MODEL));
                assertEquals(List.of(), fetcher.weightHolders(OTHER));
            }
        }
    }

    @Test
    void twoModelsServedNeedTheChoiceNamed() {
        HolderLookup.Found two = new HolderLookup.Found(HolderLookup.holders(List.of(
                new NodeAdvertisement("a", "h:1", 1, "cpu", 1, 1, 1).servingWeights(MODEL).toAttributes(),
                new NodeAdvertisement("b", "h:2", 1, "cpu", 1, 1, 1).servingWeights(OTHER).toAttributes(),
                new NodeAdvertisement("c", "h:3", 1, "cpu", 1, 1, 1).toAttributes())));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> two.choose(null));
        assertTrue(e.getMessage().contains("2 models"), e.getMessage());
        assertEquals(List.of(new PeerEndpoint("b", "h:2")), two.choose(OTHER).getValue());
    }
}
