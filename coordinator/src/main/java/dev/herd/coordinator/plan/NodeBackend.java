package dev.herd.coordinator.plan;

/** Where a node runs its kernels; its measured memory bandwidth already says how fast. */
public enum NodeBackend {
    CPU,
    CUDA
}
