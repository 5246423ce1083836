package dev.herd.model.chat;

/**
 * A chat template could not be compiled or rendered.
 *
 * <p>When the template itself refused the conversation through {@code raise_exception(msg)}, {@link
 * #raisedByTemplate()} is true and {@link #templateMessage()} is exactly the template's text: that is a client
 * error (bad roles, unsupported tool calls) that the API answers with a 400, while other failures are bugs in the
 * template or in how it was called.
 */
public final class ChatTemplateException extends RuntimeException {
  private final boolean raisedByTemplate;
  private final String templateMessage;

  private ChatTemplateException(String message, boolean raisedByTemplate, String templateMessage, Throwable cause) {
    super(message, cause);
    this.raisedByTemplate = raisedByTemplate;
    this.templateMessage = templateMessage;
  }

  /** The template called {@code raise_exception(message)}. */
  public static ChatTemplateException raised(String message) {
    return new ChatTemplateException(message, true, message, null);
  }

  /** The template is malformed or failed while rendering (type error, undefined value, unknown filter). */
  public static ChatTemplateException error(String message) {
    return new ChatTemplateException(message, false, null, null);
  }

  static ChatTemplateException error(String message, Throwable cause) {
    return new ChatTemplateException(message, false, null, cause);
  }

  /** True when the template rejected its input with {@code raise_exception}. */
  public boolean raisedByTemplate() {
    return raisedByTemplate;
  }

  /** The message given to {@code raise_exception}, or null when the failure did not come from it. */
  public String templateMessage() {
    return templateMessage;
  }
}
