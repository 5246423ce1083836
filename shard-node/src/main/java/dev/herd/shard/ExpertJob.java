package dev.herd.shard;

import dev.herd.proto.v1.CombineMode;
import dev.herd.proto.v1.DType;

/**
 * One dispatch of a MoE layer's rows to the experts this node holds, off the wire.
 *
 * @param planEpoch    the sender's plan
 * @param requestId    the frame's step_id, echoed in the answer
 * @param layer        the MoE layer
 * @param rows         (distinct rows, hidden): each row sent once even when routed to several experts here
 * @param distinctRows how many rows {@code rows} holds
 * @param entryRows    per routing entry, the row it applies to (sorted)
 * @param entryExperts per routing entry, the expert
 * @param entryWeights per routing entry, the router weight; empty unless {@code combine} needs it
 * @param combine      how the answer is laid out
 * @param dtype        the element type the answer goes back in (the request's)
 */
public record ExpertJob(long planEpoch, long requestId, int layer, float[] rows, int distinctRows, int[] entryRows,
                        int[] entryExperts, float[] entryWeights, CombineMode combine, DType dtype) {
    public int entries() {
        return entryRows.length;
    }
}
