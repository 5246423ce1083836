package dev.herd.model.chat;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Jinja2's {@code namespace(...)}: the one mutable object templates have, so that values set inside a loop body
 * (which has its own scope) survive the loop through {@code {% set ns.x = ... %}}.
 */
final class Namespace {
  final Map<String, Object> attributes = new LinkedHashMap<>();
}
