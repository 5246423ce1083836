package dev.herd.kernels.cuda;

import dev.herd.kernels.Tensor;

/**
 * One routed expert's SwiGLU feed-forward weights for {@link CudaBackend#expertFfn}.
 *
 * @param gate (ffn, hidden)
 * @param up   (ffn, hidden), same type as gate
 * @param down (hidden, ffn)
 */
public record ExpertWeights(Tensor gate, Tensor up, Tensor down) {
    public ExpertWeights {
        if (gate.rank() != 2 || up.rank() != 2 || down.rank() != 2) {
            throw new IllegalArgumentException("expert weights must be matrices: " + gate + ", " + up + ", " + down);
        }
        if (gate.rows() != up.rows() || gate.cols() != up.cols() || gate.dtype() != up.dtype()) {
            throw new IllegalArgumentException("expert gate " + gate + " and up " + up + " differ in shape or type");
        }
        if (down.rows() != gate.cols() || down.cols() != gate.rows()) {
            throw new IllegalArgumentException("expert down " + down + " does not map ffn " + gate.rows()
                    + " back to hidden " + gate.cols());
        }
    }

    public int hidden() {
        return Math.toIntExact(gate.cols());
    }

    public int ffn() {
        return Math.toIntExact(gate.rows());
    }
}
