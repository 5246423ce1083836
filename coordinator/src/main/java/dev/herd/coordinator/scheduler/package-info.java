/**
 * Continuous batching: the {@link dev.herd.coordinator.scheduler.Scheduler} owns one thread that forms every forward
 * step from the running decodes and prefill chunks of waiting prompts (up to a token budget), accounts KV in
 * fixed-size blocks, preempts the newest sequence when blocks run out (it recomputes later and produces the same
 * tokens), finds stop strings in the streamed text, and drops cancelled requests at the next step.
 *
 * <p>Everything enters as a {@link dev.herd.coordinator.scheduler.GenerationRequest} (token ids and sampling
 * parameters) and leaves through a {@link dev.herd.coordinator.scheduler.GenerationSink}; the model is a
 * {@link dev.herd.coordinator.scheduler.ModelRunner}, so the same scheduler drives a local forward pass now and a
 * pipeline of shard nodes later. Not done yet: prefix caching (sequences with a common prompt each prefill it,
 * the n choices of one request included), and priority or fairness beyond first come, first served.
 */
package dev.herd.coordinator.scheduler;
