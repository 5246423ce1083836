package dev.herd.model.chat;

import java.util.List;

/**
 * A one-shot Python iterator, which is what Jinja2's {@code selectattr}, {@code map}, {@code reverse}, {@code
 * unique} and {@code items} filters return. It differs from a list in ways templates can observe: it is always true
 * (even when empty), has no {@code len()}, and prints as {@code <generator object ...>}; templates therefore write
 * {@code | list}, and rendering must fail or succeed exactly where Python would.
 */
record PyIterator(List<Object> items, String pythonType) {
  @Override
  public String toString() {
    return "<" + pythonType + " object>";
  }
}
