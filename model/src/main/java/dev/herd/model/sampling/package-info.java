/**
 * Token choice: {@link dev.herd.model.sampling.SamplingParams} (validated, OpenAI names in errors) and the
 * per-sequence {@link dev.herd.model.sampling.Sampler} (bias, penalties, temperature, top-k, top-p, min-p,
 * seeded draws, log-probabilities of the processed logits). Pure: no threads, no I/O.
 */
package dev.herd.model.sampling;
