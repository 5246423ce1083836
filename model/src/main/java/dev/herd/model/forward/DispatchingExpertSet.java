package dev.herd.model.forward;

import dev.herd.model.config.MoeConfig;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Dispatch and combine, the two steps of a MoE layer that know where experts live. Dispatch sends each
 * owner one request with all of its rows for the layer (every owner is asked before any answer is awaited,
 * so remote owners work while local experts run); combine adds each row's expert output, weighted, into its
 * token's row. Contributions are added in expert-index order, whoever computed them, so the result does not
 * depend on the placement.
 */
public final class DispatchingExpertSet implements ExpertSet {
    private final MoeConfig moe;
    private final int hidden;
    private final ExpertPlacement placement;
    private final List<ExpertRunner> owners;

    public DispatchingExpertSet(MoeConfig moe, int hidden, ExpertPlacement placement, List<ExpertRunner> owners) {
        if (placement.owners() > owners.size()) {
            throw new IllegalArgumentException("placement uses " + placement.owners() + " owners, " + owners.size()
                    + " runners given");
        }
        this.moe = moe;
        this.hidden = hidden;
        this.placement = placement;
        this.owners = List.copyOf(owners);
    }

    @Override
    public void forward(int layer, float[] x, int n, Routing routing, float[] out) {
        int k = routing.k();
        int jobs = n * k;
        // dispatch: job j = (token j / k, slot j % k); group jobs by owner, in job order
        int[] ownerOf = new int[jobs];
        int[] perOwner = new int[owners.size()];
        for (int j = 0; j < jobs; j++) {
            ownerOf[j] = placement.owner(layer, routing.expert(j / k, j % k));
            perOwner[ownerOf[j]]++;
        }
        int[][] jobIds = new int[owners.size()][];
        @SuppressWarnings("unchecked")
        CompletableFuture<float[]>[] results = new CompletableFuture[owners.size()];
        for (int o = 0; o < owners.size(); o++) {
            if (perOwner[o] == 0) {
                continue;
            }
            int m = perOwner[o];
            int[] ids = new int[m];
            int[] experts = new int[m];
            float[] rows = new float[m * hidden]; // (m, hidden)
            for (int j = 0, r = 0; j < jobs; j++) {
                if (ownerOf[j] != o) {
                    continue;
                }
                int t = j / k;
                ids[r] = j;
                experts[r] = routing.expert(t, j % k);
                System.arraycopy(x, t * hidden, rows, r * hidden, hidden);
                if (moe.weightBeforeExpert()) {
                    float w = routing.weight(t, j % k);
                    for (int i = r * hidden; i < (r + 1) * hidden; i++) {
                        rows[i] *= w;
                    }
                }
                r++;
            }
            jobIds[o] = ids;
            results[o] = owners.get(o).run(layer, experts, rows, m);
        }
        // gather every owner's answer into job order
        float[] y = new float[jobs * hidden]; // (n * k, hidden)
        for (int o = 0; o < owners.size(); o++) {
            if (results[o] == null) {
                continue;
            }
            float[] r = results[o].join();
            for (int i = 0; i < jobIds[o].length; i++) {
                System.arraycopy(r, i * hidden, y, jobIds[o][i] * hidden, hidden);
            }
        }
        // combine, experts in index order for each token
        for (int t = 0; t < n; t++) {
            for (int e = 0; e < moe.numExperts(); e++) {
                for (int s = 0; s < k; s++) {
                    if (routing.expert(t, s) != e) {
                        continue;
                    }
                    float w = moe.weightBeforeExpert() ? 1f : routing.weight(t, s);
                    int yo = (t * k + s) * hidden;
                    int o = t * hidden;
                    for (int i = 0; i < hidden; i++) {
                        out[o + i] += w * y[yo + i];
                    }
                }
            }
        }
    }
}
