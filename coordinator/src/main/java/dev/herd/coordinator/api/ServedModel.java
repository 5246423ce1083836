package dev.herd.coordinator.api;

import dev.herd.coordinator.scheduler.Scheduler;
import dev.herd.model.chat.ChatTemplate;
import dev.herd.model.tokenizer.Tokenizer;

import java.util.Optional;

/**
 * A loaded model as the API serves it.
 *
 * @param name          the id clients pass as {@code model}
 * @param tokenizer     for prompts and log-probability token texts
 * @param chatTemplate  for /v1/chat/completions; absent for base models
 * @param contextLength prompt and completion together
 * @param scheduler     runs the requests
 * @param created       when it was loaded, epoch seconds (the {@code created} of /v1/models)
 */
public record ServedModel(String name, Tokenizer tokenizer, Optional<ChatTemplate> chatTemplate, int contextLength,
                          Scheduler scheduler, long created) {
}
