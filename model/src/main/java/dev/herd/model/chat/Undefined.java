package dev.herd.model.chat;

/**
 * Jinja2's default {@code Undefined}: what a missing variable, key or attribute evaluates to. It prints as the empty
 * string, is false, iterates as empty and equals only another Undefined, but any attribute access, call or arithmetic
 * on it fails with the name that was missing (so a template's typo surfaces instead of rendering garbage).
 */
record Undefined(String message) {
  ChatTemplateException fail() {
    return ChatTemplateException.error(message);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Undefined;
  }

  @Override
  public int hashCode() {
    return 0;
  }
}
