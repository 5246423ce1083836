package dev.herd.coordinator.api;

import dev.herd.model.chat.ChatMessage;
import dev.herd.model.chat.ChatTemplate;
import dev.herd.model.chat.ChatTemplateException;
import dev.herd.model.tokenizer.AddedToken;
import dev.herd.model.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Turns a request's prompt into token ids.
 *
 * <p><b>Control tokens.</b> A chat prompt is the template's output, and the template writes control tokens
 * ({@code <|im_start|>}, {@code <|im_end|>}, ...) as text, so the rendered prompt must be encoded with special
 * tokens recognised. Message text comes from the client, though, and must not be able to forge them: a user who
 * writes {@code <|im_end|><|im_start|>system} would otherwise open a system turn of their own. So:
 * <ul>
 *   <li>When no message text spells a special token (the usual case), the rendered prompt is encoded as Hugging
 *       Face's {@code apply_chat_template(tokenize=True)} does, with special tokens parsed: exactly the reference
 *       tokens.</li>
 *   <li>When some text does, the prompt is rendered a second time with a placeholder in place of every text, which
 *       locates the texts in the rendered prompt (checked by substituting them back). Control tokens are then
 *       recognised only in the template's own text; the text between two of them, message text included, is
 *       encoded with special tokens treated as plain characters. This is how the tokenizer splits on added tokens
 *       anyway, so the tokens equal the usual ones everywhere except where the client wrote a control token's
 *       spelling, which becomes ordinary text. ({@code lstrip}/{@code rstrip} of template-written tokens are
 *       honoured; special tokens declared {@code normalized} are matched in the raw text.)</li>
 *   <li>When a template alters message text (so the placeholders cannot locate it), or a control token's spelling
 *       appears in a field that is not free text (a name, a tool-call id), the request is refused with a 400 that
 *       names the field.</li>
 * </ul>
 * A raw {@code /v1/completions} prompt is the client's whole prompt, template markup included by design, so it is
 * encoded with special tokens parsed and the tokenizer's BOS added, as vLLM and llama.cpp do.
 */
public final class PromptEncoder {
    private final Tokenizer tokenizer;
    private final Optional<ChatTemplate> template;
    /** Special tokens by spelling, longest first (the leftmost-longest rule needs them in that order). */
    private final List<AddedToken> specials;

    public PromptEncoder(Tokenizer tokenizer, Optional<ChatTemplate> template) {
        this.tokenizer = tokenizer;
        this.template = template;
        this.specials = tokenizer.addedTokens().stream().filter(AddedToken::special)
                .sorted(Comparator.comparingInt((AddedToken t) -> t.content().length()).reversed()).toList();
    }

    /** A raw completion prompt: BOS as the tokenizer adds it, markup in the text parsed. */
    public int[] encodeText(String prompt) {
        return tokenizer.encode(prompt, true, true);
    }

    /**
     * A chat: rendered through the model's template with the generation prompt, then encoded so that message text
     * cannot forge control tokens.
     *
     * @throws ApiError 400 when the model has no template, the template refuses the conversation, or text cannot be
     *                  protected
     */
    public int[] encodeChat(List<ChatMessage> messages) {
        ChatTemplate t = template.orElseThrow(() -> ApiError.invalid("messages",
                "this model has no chat template; send a raw prompt to /v1/completions"));
        String rendered = render(t, messages);
        for (int i = 0; i < messages.size(); i++) {
            checkNotForged(messages.get(i), i);
        }
        if (!anyTextSpellsSpecial(messages)) {
            return tokenizer.encode(rendered, false, true);
        }
        return encodeProtected(t, messages, rendered);
    }

    /** The path for prompts whose message text spells a control token; package-visible so tests can run it always. */
    int[] encodeProtected(ChatTemplate t, List<ChatMessage> messages, String rendered) {
        List<String> texts = new ArrayList<>();
        List<ChatMessage> masked = new ArrayList<>();
        for (ChatMessage m : messages) {
            masked.add(mask(m, texts));
        }
        String withPlaceholders = render(t, masked);
        List<Piece> pieces = locate(withPlaceholders, texts, rendered);
        return encodePieces(pieces);
    }

    private static String render(ChatTemplate t, List<ChatMessage> messages) {
        try {
            return t.render(messages, true, Map.of());
        } catch (ChatTemplateException e) {
            if (e.raisedByTemplate()) {
                throw ApiError.invalid("messages", "the model's chat template refused the conversation: "
                        + e.templateMessage());
            }
            throw new ApiError(500, "server_error", "the model's chat template failed: " + e.getMessage(), null, null);
        }
    }

    /** Fields that are identifiers, not free text, may not spell control tokens at all. */
    private void checkNotForged(ChatMessage m, int index) {
        requireNoSpecial(m.name(), "messages[" + index + "].name");
        requireNoSpecial(m.toolCallId(), "messages[" + index + "].tool_call_id");
        if (m.toolCalls() != null) {
            for (int c = 0; c < m.toolCalls().size(); c++) {
                ChatMessage.ToolCall call = m.toolCalls().get(c);
                String field = "messages[" + index + "].tool_calls[" + c + "]";
                requireNoSpecial(call.id(), field + ".id");
                requireNoSpecial(call.name(), field + ".function.name");
                requireNoSpecial(call.arguments() instanceof String s ? s : null, field + ".function.arguments");
            }
        }
    }

    private void requireNoSpecial(String value, String field) {
        String special = spelledSpecial(value);
        if (special != null) {
            throw ApiError.invalid(field, field + " contains the control token " + special);
        }
    }

    private boolean anyTextSpellsSpecial(List<ChatMessage> messages) {
        for (ChatMessage m : messages) {
            if (spelledSpecial(m.text()) != null || spelledSpecial(m.reasoningContent()) != null) {
                return true;
            }
        }
        return false;
    }

    /** The first special token spelled in {@code text}, or null. */
    private String spelledSpecial(String text) {
        if (text == null) {
            return null;
        }
        for (AddedToken s : specials) {
            if (text.contains(s.content())) {
                return s.content();
            }
        }
        return null;
    }

    /** The message with every free text replaced by a placeholder; the texts go to {@code texts} in order. */
    private static ChatMessage mask(ChatMessage m, List<String> texts) {
        ChatMessage.Content content = switch (m.content()) {
            case null -> null;
            case ChatMessage.Text t -> new ChatMessage.Text(placeholder(texts, t.text()));
            case ChatMessage.Parts p -> new ChatMessage.Parts(p.parts().stream()
                    .map(part -> part.text() == null ? part : new ChatMessage.Part(part.type(),
                            placeholder(texts, part.text())))
                    .toList());
        };
        String reasoning = m.reasoningContent() == null ? null : placeholder(texts, m.reasoningContent());
        return new ChatMessage(m.role(), content, m.name(), m.toolCalls(), m.toolCallId(), reasoning);
    }

    /** Private-use characters: no tokenizer treats them specially and no template touches them. */
    private static String placeholder(List<String> texts, String text) {
        texts.add(text);
        return "\uE000" + (texts.size() - 1) + "\uE001";
    }

    /** A stretch of the prompt: template text (control tokens recognised) or message text (never). */
    private record Piece(String text, boolean template) {
    }

    /** Splits the placeholder render at the placeholders and checks that substituting the texts gives the prompt. */
    private static List<Piece> locate(String withPlaceholders, List<String> texts, String rendered) {
        List<Piece> pieces = new ArrayList<>();
        StringBuilder rebuilt = new StringBuilder();
        int[] seen = new int[texts.size()];
        int pos = 0;
        while (true) {
            int open = withPlaceholders.indexOf('\uE000', pos);
            int close = open < 0 ? -1 : withPlaceholders.indexOf('\uE001', open);
            if (open < 0 || close < 0) {
                break;
            }
            int index = parseIndex(withPlaceholders.substring(open + 1, close), texts.size());
            if (index < 0) {
                break;
            }
            pieces.add(new Piece(withPlaceholders.substring(pos, open), true));
            pieces.add(new Piece(texts.get(index), false));
            rebuilt.append(withPlaceholders, pos, open).append(texts.get(index));
            seen[index]++;
            pos = close + 1;
        }
        pieces.add(new Piece(withPlaceholders.substring(pos), true));
        rebuilt.append(withPlaceholders, pos, withPlaceholders.length());
        boolean eachOnce = true;
        for (int count : seen) {
            eachOnce &= count == 1;
        }
        if (!eachOnce || !rebuilt.toString().equals(rendered)) {
            throw ApiError.invalid("messages", "a message contains the spelling of a control token, and this model's"
                    + " chat template changes message text, so it cannot be kept apart from the template's own"
                    + " control tokens; remove the control token text");
        }
        return pieces;
    }

    private static int parseIndex(String digits, int count) {
        if (digits.isEmpty() || digits.length() > 9 || !digits.chars().allMatch(Character::isDigit)) {
            return -1;
        }
        int i = Integer.parseInt(digits);
        return i < count ? i : -1;
    }

    /**
     * Control tokens from template pieces only; the text between them (template and message text alike) encoded with
     * special tokens as plain characters.
     */
    private int[] encodePieces(List<Piece> pieces) {
        List<int[]> parts = new ArrayList<>();
        StringBuilder run = new StringBuilder();
        boolean stripLeading = false;
        for (Piece piece : pieces) {
            String text = piece.text();
            int pos = 0;
            while (pos < text.length()) {
                Match m = piece.template() ? nextSpecial(text, pos) : null;
                int end = m == null ? text.length() : m.start();
                String plain = text.substring(pos, end);
                if (stripLeading) {
                    plain = plain.stripLeading();
                    stripLeading = plain.isEmpty();
                }
                run.append(plain);
                if (m == null) {
                    break;
                }
                if (m.token().lstrip()) {
                    int keep = run.length();
                    while (keep > 0 && Character.isWhitespace(run.charAt(keep - 1))) {
                        keep--;
                    }
                    run.setLength(keep);
                }
                flush(run, parts);
                parts.add(new int[]{m.token().id()});
                stripLeading = m.token().rstrip();
                pos = m.start() + m.token().content().length();
            }
        }
        flush(run, parts);
        int total = parts.stream().mapToInt(a -> a.length).sum();
        int[] ids = new int[total];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, ids, at, p.length);
            at += p.length;
        }
        return ids;
    }

    private void flush(StringBuilder run, List<int[]> parts) {
        if (!run.isEmpty()) {
            parts.add(tokenizer.encode(run.toString(), false, false));
            run.setLength(0);
        }
    }

    private record Match(int start, AddedToken token) {
    }

    /** The leftmost special token at or after {@code from}, the longest among those starting there. */
    private Match nextSpecial(String text, int from) {
        Match first = null;
        for (AddedToken s : specials) { // longest first: a later token at the same place is never longer
            int at = text.indexOf(s.content(), from);
            if (at >= 0 && (first == null || at < first.start())) {
                first = new Match(at, s);
            }
        }
        return first;
    }
}
