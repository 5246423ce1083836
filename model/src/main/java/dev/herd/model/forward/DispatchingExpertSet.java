package dev.herd.model.forward;

import dev.herd.model.config.MoeConfig;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Dispatch and combine, the two steps of a MoE layer that know where experts live. Dispatch sends each
 * owner one request with all of its rows for the layer (every owner is asked before any answer is awaited,
 * so remote owners work while local experts run); combine adds each row's expert output, weighted, into its
 * token's row. Contributions are added in expert-index order, whoever computed them, so the result does not
 * depend on the placement.
 *
 * <p>The per-owner rows and answers live in per-thread buffers grown to the largest step seen, so steady
 * decoding allocates none of them (runners that answer in place, like {@link LocalExpertRunner}, write into
 * them too).
 */
public final class DispatchingExpertSet implements ExpertSet {
    private final MoeConfig moe;
    private final int hidden;
    private final ExpertPlacement placement;
    private final List<ExpertRunner> owners;
    /** Per thread: a pass is not re-entered on one thread, while several threads may share this object. */
    private final ThreadLocal<Scratch> scratch;

    /** One thread's dispatch state. */
    private static final class Scratch {
        int[] ownerOf = new int[0]; // per job: its owner
        int[] rowOf = new int[0];   // per job: its row in its owner's request
        final int[] perOwner;
        final int[][] experts;      // per owner: the expert of each request row
        final float[][] rows;       // per owner: (m, hidden) request rows
        final float[][] answers;    // per owner: (m, hidden) room for the answer
        final float[][] results;    // per owner: the answer of this step
        final CompletableFuture<float[]>[] pending;

        @SuppressWarnings("unchecked")
        Scratch(int owners) {
            perOwner = new int[owners];
            experts = new int[owners][0];
            rows = new float[owners][0];
            answers = new float[owners][0];
            results = new float[owners][];
            pending = new CompletableFuture[owners];
        }
    }

    public DispatchingExpertSet(MoeConfig moe, int hidden, ExpertPlacement placement, List<ExpertRunner> owners) {
        if (placement.owners() > owners.size()) {
            throw new IllegalArgumentException("placement uses " + placement.owners() + " owners, " + owners.size()
                    + " runners given");
        }
        this.moe = moe;
        this.hidden = hidden;
        this.placement = placement;
        this.owners = List.copyOf(owners);
        int count = this.owners.size();
        this.scratch = ThreadLocal.withInitial(() -> new Scratch(count));
    }

    @Override
    public void forward(int layer, float[] x, int n, Routing routing, float[] out) {
        int k = routing.k();
        int jobs = n * k;
        Scratch s = scratch.get();
        if (s.ownerOf.length < jobs) {
            s.ownerOf = new int[Math.max(jobs, 2 * s.ownerOf.length)];
            s.rowOf = new int[s.ownerOf.length];
        }
        // dispatch: job j = (token j / k, slot j % k); each owner's rows in job order
        int[] perOwner = s.perOwner;
        Arrays.fill(perOwner, 0);
        for (int j = 0; j < jobs; j++) {
            int o = placement.owner(layer, routing.expert(j / k, j % k));
            s.ownerOf[j] = o;
            s.rowOf[j] = perOwner[o]++;
        }
        for (int o = 0; o < owners.size(); o++) {
            int m = perOwner[o];
            if (m > 0 && s.experts[o].length < m) {
                int rows = Math.max(m, 2 * s.experts[o].length);
                s.experts[o] = new int[rows];
                s.rows[o] = new float[rows * hidden];
                s.answers[o] = new float[rows * hidden];
            }
        }
        for (int j = 0; j < jobs; j++) {
            int t = j / k;
            int o = s.ownerOf[j];
            int r = s.rowOf[j];
            s.experts[o][r] = routing.expert(t, j % k);
            float[] rows = s.rows[o];
            System.arraycopy(x, t * hidden, rows, r * hidden, hidden);
            if (moe.weightBeforeExpert()) {
                float w = routing.weight(t, j % k);
                for (int i = r * hidden; i < (r + 1) * hidden; i++) {
                    rows[i] *= w;
                }
            }
        }
        // every owner is asked before any answer is awaited
        for (int o = 0; o < owners.size(); o++) {
            s.pending[o] = perOwner[o] == 0 ? null
                    : owners.get(o).run(layer, s.experts[o], s.rows[o], perOwner[o], s.answers[o]);
        }
        for (int o = 0; o < owners.size(); o++) {
            s.results[o] = s.pending[o] == null ? null : s.pending[o].join();
            s.pending[o] = null;
        }
        // combine, experts in index order for each token
        for (int t = 0; t < n; t++) {
            for (int e = 0; e < moe.numExperts(); e++) {
                for (int slot = 0; slot < k; slot++) {
                    if (routing.expert(t, slot) != e) {
                        continue;
                    }
                    int j = t * k + slot;
                    float w = moe.weightBeforeExpert() ? 1f : routing.weight(t, slot);
                    float[] y = s.results[s.ownerOf[j]];
                    int yo = s.rowOf[j] * hidden;
                    int o = t * hidden;
                    for (int i = 0; i < hidden; i++) {
                        out[o + i] += w * y[yo + i];
                    }
                }
            }
        }
        Arrays.fill(s.results, null); // answers of other runners are not kept past the step
    }
}
