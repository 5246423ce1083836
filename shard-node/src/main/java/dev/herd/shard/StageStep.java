package dev.herd.shard;

import dev.herd.proto.v1.SequenceFork;
import dev.herd.proto.v1.SequenceSampling;

import java.util.List;

/**
 * One step's input to a stage, off the wire: rows tied to (sequence, position), as token ids for the stage
 * that embeds or as hidden states for the others.
 *
 * @param planEpoch  the plan the sender computed under
 * @param stepId     the coordinator's step id, echoed in the result
 * @param layer      the first layer the receiver must run
 * @param seqIds     per row
 * @param positions  per row
 * @param tokens     per row when the frame carries token ids, else null
 * @param hidden     (rows, hidden) when the frame carries hidden states, else null
 * @param sampleRows rows the last stage samples a token for
 * @param params     sampling parameters of sequences that join in this step, for the last stage
 * @param sampling   the same as they came, passed on unchanged by stages before the last
 * @param forks      sequences that start as copies of another's cached positions, applied before the rows
 * @param releaseAfter sequences forgotten after the step
 */
public record StageStep(long planEpoch, long stepId, int layer, long[] seqIds, int[] positions, int[] tokens,
                        float[] hidden, int[] sampleRows, List<SequenceParams> params,
                        List<SequenceSampling> sampling, List<SequenceFork> forks, List<Long> releaseAfter) {
    public int rows() {
        return seqIds.length;
    }
}
