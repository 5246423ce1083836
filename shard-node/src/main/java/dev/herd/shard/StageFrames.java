package dev.herd.shard;

import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.DType;
import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.FrameFailure;
import dev.herd.proto.v1.SequenceSampling;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StepResult;

import java.util.ArrayList;
import java.util.List;

/**
 * Stage messages to and from records: structural checks of what arrived (counts, sizes, ranges) live here, so
 * the stage itself only sees well-formed steps; every violation is a {@link FrameRejected} naming the field.
 */
public final class StageFrames {
    private StageFrames() {
    }

    /** A {@code StageInput} as a step; {@code hidden} is the model's width that hidden-state rows must have. */
    public static StageStep toStep(StageInput input, int hidden) {
        if (!input.hasFrame()) {
            throw FrameRejected.badFrame("a stage input without a frame");
        }
        ActivationFrame f = input.getFrame();
        String what = "step " + f.getStepId();
        int rows = f.getRows();
        if (rows <= 0) {
            throw FrameRejected.badFrame(what + " has no rows");
        }
        if (f.getSeqIdsCount() != rows || f.getPositionsCount() != rows) {
            throw FrameRejected.badFrame(what + " has " + rows + " rows but " + f.getSeqIdsCount() + " seq_ids and "
                    + f.getPositionsCount() + " positions");
        }
        long[] seqIds = new long[rows];
        int[] positions = new int[rows];
        for (int i = 0; i < rows; i++) {
            seqIds[i] = f.getSeqIds(i);
            int p = f.getPositions(i);
            if (p < 0) { // uint32 above 2^31 - 1: no context is that long
                throw FrameRejected.badFrame(what + " row " + i + " has position " + Integer.toUnsignedString(p));
            }
            positions[i] = p;
        }
        int[] tokens = null;
        float[] x = null;
        if (f.getCols() == 0) {
            if (!f.getData().isEmpty()) {
                throw FrameRejected.badFrame(what + " has cols 0 but " + f.getData().size() + " data bytes");
            }
            if (input.getTokenIdsCount() != rows) {
                throw FrameRejected.badFrame(what + " carries no hidden states, so it needs one token id per row: "
                        + rows + " rows, " + input.getTokenIdsCount() + " token ids");
            }
            tokens = new int[rows];
            for (int i = 0; i < rows; i++) {
                tokens[i] = input.getTokenIds(i); // a uint32 above 2^31 - 1 reads negative: the vocabulary check refuses it
            }
        } else {
            if (input.getTokenIdsCount() != 0) {
                throw FrameRejected.badFrame(what + " carries both hidden states and " + input.getTokenIdsCount()
                        + " token ids");
            }
            if (f.getCols() != hidden) {
                throw FrameRejected.badFrame(what + " has " + f.getCols() + " columns; the model's hidden size is "
                        + hidden);
            }
            x = ActivationCodec.decode(f.getData(), f.getDtype(), rows, hidden, what);
        }
        int[] sampleRows = new int[input.getSampleRowsCount()];
        for (int i = 0; i < sampleRows.length; i++) {
            int r = input.getSampleRows(i);
            if (r < 0 || r >= rows || (i > 0 && r <= sampleRows[i - 1])) {
                throw FrameRejected.badFrame(what + " sample_rows " + input.getSampleRowsList()
                        + " must be increasing row indices below " + rows);
            }
            sampleRows[i] = r;
        }
        List<SequenceParams> params = new ArrayList<>();
        for (SequenceSampling s : input.getSamplingList()) {
            params.add(SamplingCodec.fromProto(s));
        }
        for (var fork : input.getForksList()) {
            if (fork.getPositions() < 0 || fork.getSeqId() == fork.getSourceSeqId()) {
                throw FrameRejected.badFrame(what + " forks sequence " + fork.getSeqId() + " from "
                        + fork.getSourceSeqId() + " at " + Integer.toUnsignedString(fork.getPositions()));
            }
        }
        return new StageStep(f.getPlanEpoch(), f.getStepId(), f.getLayer(), seqIds, positions, tokens, x, sampleRows,
                params, input.getSamplingList(), input.getForksList(), input.getReleaseAfterList());
    }

    /** The input the next stage receives: this stage's output rows with the step's metadata. */
    public static StageInput forward(StageStep step, int nextLayer, float[] x, int hidden, DType wire,
                                     long resultRoute) {
        ActivationFrame.Builder f = ActivationFrame.newBuilder()
                .setPlanEpoch(step.planEpoch())
                .setStepId(step.stepId())
                .setLayer(nextLayer)
                .setDtype(wire)
                .setRows(step.rows())
                .setCols(hidden)
                .setData(ActivationCodec.encode(x, step.rows() * hidden, wire));
        for (int i = 0; i < step.rows(); i++) {
            f.addSeqIds(step.seqIds()[i]).addPositions(step.positions()[i]);
        }
        StageInput.Builder in = StageInput.newBuilder().setFrame(f).addAllSampling(step.sampling())
                .addAllForks(step.forks()).addAllReleaseAfter(step.releaseAfter()).setResultRoute(resultRoute);
        for (int r : step.sampleRows()) {
            in.addSampleRows(r);
        }
        return in.build();
    }

    public static StepResult result(StageStep step, List<TokenChoice> tokens) {
        StepResult.Builder r = StepResult.newBuilder().setPlanEpoch(step.planEpoch()).setStepId(step.stepId());
        for (TokenChoice t : tokens) {
            r.addTokens(SamplingCodec.toProto(t));
        }
        return r.build();
    }

    /** A failure of the step that {@code input} carried (its ids read without trusting the rest). */
    public static FrameFailure failure(StageInput input, FailureReason reason, String message) {
        ActivationFrame f = input.getFrame();
        return FrameFailure.newBuilder()
                .setPlanEpoch(f.getPlanEpoch())
                .setStepId(f.getStepId())
                .setLayer(f.getLayer())
                .addAllSeqIds(f.getSeqIdsList().stream().distinct().toList())
                .setReason(reason)
                .setMessage(message)
                .build();
    }
}
