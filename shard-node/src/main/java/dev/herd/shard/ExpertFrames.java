package dev.herd.shard;

import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.CombineMode;
import dev.herd.proto.v1.DType;
import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.FrameFailure;

import java.util.Arrays;

/**
 * Expert dispatch messages to and from records. A dispatch frame carries each distinct row once and the
 * routing as parallel (row, expert) arrays; its {@code step_id} is the dispatcher's request number on that
 * stream (an {@code ExpertRunner} is asked per layer, not per coordinator step), which the answer echoes.
 * Sequence ids and positions are left empty: experts are position-free and need no cache.
 */
public final class ExpertFrames {
    private ExpertFrames() {
    }

    /**
     * The request for {@code m} rows of (m, hidden), row i to expert {@code experts[i]}, answered PER_EXPERT.
     * A token routed to several experts of one node arrives as equal consecutive rows (the dispatcher copies
     * it once per expert); it crosses the wire once.
     */
    public static ActivationFrame request(long epoch, long requestId, int layer, int[] experts, float[] rows, int m,
                                          int hidden, DType wire) {
        int[] entryRow = new int[m];
        float[] distinct = new float[m * hidden];
        int d = 0;
        for (int i = 0; i < m; i++) {
            if (d > 0 && Arrays.equals(rows, i * hidden, (i + 1) * hidden, distinct, (d - 1) * hidden, d * hidden)) {
                entryRow[i] = d - 1;
                continue;
            }
            System.arraycopy(rows, i * hidden, distinct, d * hidden, hidden);
            entryRow[i] = d++;
        }
        ActivationFrame.Builder f = ActivationFrame.newBuilder()
                .setPlanEpoch(epoch)
                .setStepId(requestId)
                .setLayer(layer)
                .setDtype(wire)
                .setRows(d)
                .setCols(hidden)
                .setData(ActivationCodec.encode(distinct, d * hidden, wire))
                .setCombine(CombineMode.COMBINE_MODE_PER_EXPERT);
        for (int i = 0; i < m; i++) {
            f.addRoutedRows(entryRow[i]).addRoutedExperts(experts[i]);
        }
        return f.build();
    }

    /** A dispatch frame as a job, checked for consistency; experts held is the host's to check. */
    public static ExpertJob toJob(ActivationFrame f, int hidden) {
        String what = "expert request " + f.getStepId() + " for layer " + f.getLayer();
        int rows = f.getRows();
        int m = f.getRoutedRowsCount();
        if (rows <= 0 || m <= 0) {
            throw FrameRejected.badFrame(what + " has " + rows + " rows and " + m + " routing entries");
        }
        if (f.getCols() != hidden) {
            throw FrameRejected.badFrame(what + " has " + f.getCols() + " columns; the hidden size is " + hidden);
        }
        if (f.getRoutedExpertsCount() != m) {
            throw FrameRejected.badFrame(what + " has " + m + " routed_rows but " + f.getRoutedExpertsCount()
                    + " routed_experts");
        }
        if (f.getSeqIdsCount() != 0 && f.getSeqIdsCount() != rows) {
            throw FrameRejected.badFrame(what + " has " + rows + " rows but " + f.getSeqIdsCount() + " seq_ids");
        }
        CombineMode combine = f.getCombine();
        if (combine != CombineMode.COMBINE_MODE_PER_EXPERT && combine != CombineMode.COMBINE_MODE_WEIGHTED_SUM) {
            throw FrameRejected.badFrame(what + " asks for combine mode " + combine);
        }
        int weights = f.getRoutedWeightsCount();
        if (weights != m && (weights != 0 || combine == CombineMode.COMBINE_MODE_WEIGHTED_SUM)) {
            throw FrameRejected.badFrame(what + " has " + m + " routing entries but " + weights + " routed_weights"
                    + (combine == CombineMode.COMBINE_MODE_WEIGHTED_SUM ? " (WEIGHTED_SUM needs one each)" : ""));
        }
        int[] entryRows = new int[m];
        int[] entryExperts = new int[m];
        float[] entryWeights = new float[weights];
        boolean[] used = new boolean[rows];
        for (int i = 0; i < m; i++) {
            int r = f.getRoutedRows(i);
            if (r < 0 || r >= rows || (i > 0 && r < entryRows[i - 1])) {
                throw FrameRejected.badFrame(what + " routing entry " + i + " names row "
                        + Integer.toUnsignedString(r) + "; rows must be below " + rows + " and sorted");
            }
            int e = f.getRoutedExperts(i);
            if (e < 0) {
                throw FrameRejected.badFrame(what + " routing entry " + i + " names expert " + Integer.toUnsignedString(e));
            }
            entryRows[i] = r;
            entryExperts[i] = e;
            used[r] = true;
            if (weights > 0) {
                entryWeights[i] = f.getRoutedWeights(i);
            }
        }
        for (int r = 0; r < rows; r++) {
            if (!used[r]) {
                throw FrameRejected.badFrame(what + " sends row " + r + " but routes it to no expert");
            }
        }
        float[] x = ActivationCodec.decode(f.getData(), f.getDtype(), rows, hidden, what);
        return new ExpertJob(f.getPlanEpoch(), f.getStepId(), f.getLayer(), x, rows, entryRows, entryExperts,
                entryWeights, combine, f.getDtype());
    }

    /** The answer to a job: (entries or distinct rows, hidden) in the request's element type. */
    public static ActivationFrame response(ExpertJob job, float[] y, int hidden) {
        int rows = job.combine() == CombineMode.COMBINE_MODE_PER_EXPERT ? job.entries() : job.distinctRows();
        return ActivationFrame.newBuilder()
                .setPlanEpoch(job.planEpoch())
                .setStepId(job.requestId())
                .setLayer(job.layer())
                .setDtype(job.dtype())
                .setRows(rows)
                .setCols(hidden)
                .setData(ActivationCodec.encode(y, rows * hidden, job.dtype()))
                .build();
    }

    public static FrameFailure failure(ActivationFrame f, FailureReason reason, String message) {
        return FrameFailure.newBuilder()
                .setPlanEpoch(f.getPlanEpoch())
                .setStepId(f.getStepId())
                .setLayer(f.getLayer())
                .setReason(reason)
                .setMessage(message)
                .build();
    }
}
