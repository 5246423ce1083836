/**
 * The OpenAI-compatible HTTP API on Vert.x ({@link dev.herd.coordinator.api.ApiServer}). Handlers are adapters:
 * {@link dev.herd.coordinator.api.OpenAiRequests} reads a body field by field (errors name the field),
 * {@link dev.herd.coordinator.api.PromptEncoder} renders and tokenizes (message text cannot forge control tokens),
 * the scheduler runs a {@link dev.herd.coordinator.scheduler.GenerationRequest}, and sinks turn its events into
 * OpenAI JSON or server-sent events on the request's event loop. Nothing blocks an event loop: rendering and
 * tokenizing run on worker threads, generation on the scheduler's thread.
 *
 * <p>Known limits: one prompt per /v1/completions request; no tool calling, no {@code echo}/{@code suffix}/
 * {@code best_of}; a slow streaming client is not pushed back on (its few bytes per token queue in the
 * connection); log-probability {@code bytes} are null for tokens that hold part of a UTF-8 character.
 */
package dev.herd.coordinator.api;
