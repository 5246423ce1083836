/**
 * Prometheus metrics of serving ({@link dev.herd.coordinator.metrics.ServingMetrics}), always registered in a
 * registry the caller passes in.
 */
package dev.herd.coordinator.metrics;
