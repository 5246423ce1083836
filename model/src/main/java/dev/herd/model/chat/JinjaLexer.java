package dev.herd.model.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits template source into text and tag tokens the way Jinja2's lexer does with the settings transformers uses
 * ({@code trim_blocks=True}, {@code lstrip_blocks=True}, {@code keep_trailing_newline=False}). Whitespace handling
 * is decided here, as in Jinja2, so the parser only sees the text that will really be printed:
 *
 * <ul>
 *   <li>{@code {%-}, {@code {{-}, {@code {#-} strip all whitespace before the tag; {@code -%}} etc. all after it;
 *   <li>trim_blocks: one newline right after a {@code %}} or {@code #}} is dropped ({@code +%}} keeps it);
 *   <li>lstrip_blocks: spaces and tabs between a line start and a {@code {%} or {@code {#} are dropped
 *       ({@code {%+} keeps them); never for {@code {{}.
 * </ul>
 */
final class JinjaLexer {
  enum Kind { TEXT, BLOCK_BEGIN, BLOCK_END, VAR_BEGIN, VAR_END, NAME, STRING, INTEGER, FLOAT, OPERATOR, EOF }

  record Token(Kind kind, String text, Object value, int line) {
    boolean is(Kind k, String t) {
      return kind == k && text.equals(t);
    }

    boolean isName(String name) {
      return kind == Kind.NAME && text.equals(name);
    }

    boolean isOp(String op) {
      return kind == Kind.OPERATOR && text.equals(op);
    }
  }

  private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*([-+]?)%}");
  private static final Pattern RAW_BEGIN = Pattern.compile("\\{%[-+]?\\s*raw\\s*(-?)%}");
  private static final String[] OPERATORS = {
    "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}",
    ",", ".", ":", "|"
  };

  private final String src;
  private final List<Token> tokens = new ArrayList<>();
  private int pos;
  private int line = 1;
  /** Jinja2's {@code line_starting}: the previous token ended a line (or this is the template's start). */
  private boolean lineStarting = true;

  private JinjaLexer(String source) {
    // Jinja2 normalises newlines to "\n" and, without keep_trailing_newline, drops one trailing newline.
    String s = source.replace("\r\n", "\n").replace('\r', '\n');
    if (s.endsWith("\n")) {
      s = s.substring(0, s.length() - 1);
    }
    this.src = s;
  }

  static List<Token> tokenize(String source) {
    JinjaLexer lexer = new JinjaLexer(source);
    lexer.run();
    return lexer.tokens;
  }

  private void run() {
    while (pos < src.length()) {
      int tag = nextTagStart(pos);
      String text = src.substring(pos, tag < 0 ? src.length() : tag);
      if (tag < 0) {
        addText(text);
        pos = src.length();
        break;
      }
      char kind = src.charAt(tag + 1);
      char modifier = tag + 2 < src.length() ? src.charAt(tag + 2) : 0;
      if (modifier == '-') {
        text = PyStrings.rstrip(text, null);
      } else if (modifier != '+' && kind != '{') {
        text = lstripBlock(text);
      }
      addText(text);
      line += count(src, pos, tag);
      pos = tag + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
      switch (kind) {
        case '#' -> comment();
        case '{' -> tagBody(Kind.VAR_BEGIN, Kind.VAR_END, "}}", false);
        default -> {
          Matcher raw = RAW_BEGIN.matcher(src).region(tag, src.length());
          if (raw.lookingAt()) {
            rawBlock(raw);
          } else {
            tagBody(Kind.BLOCK_BEGIN, Kind.BLOCK_END, "%}", true);
          }
        }
      }
    }
    tokens.add(new Token(Kind.EOF, "", null, line));
  }

  private int nextTagStart(int from) {
    for (int i = src.indexOf('{', from); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
      char c = src.charAt(i + 1);
      if (c == '{' || c == '%' || c == '#') {
        return i;
      }
    }
    return -1;
  }

  /** lstrip_blocks: drop whitespace between the start of the tag's line and the tag, if nothing else is there. */
  private String lstripBlock(String text) {
    int lineStart = text.lastIndexOf('\n') + 1;
    if (lineStart == 0 && !lineStarting) {
      return text;
    }
    for (int i = lineStart; i < text.length(); i++) {
      if (!PyStrings.isSpace(text.charAt(i))) {
        return text;
      }
    }
    return text.substring(0, lineStart);
  }

  private void addText(String text) {
    if (!text.isEmpty()) {
      tokens.add(new Token(Kind.TEXT, text, text, line));
    }
  }

  /** After a tag's closing delimiter: {@code -} eats all whitespace, trim_blocks one newline for blocks. */
  private void afterTagEnd(char endModifier, boolean trims) {
    int start = pos;
    if (endModifier == '-') {
      while (pos < src.length() && PyStrings.isSpace(src.charAt(pos))) {
        pos++;
      }
    } else if (trims && endModifier != '+' && pos < src.length() && src.charAt(pos) == '\n') {
      pos++;
    }
    line += count(src, start, pos);
    lineStarting = pos > 0 && src.charAt(pos - 1) == '\n';
  }

  private void comment() {
    int end = src.indexOf("#}", pos);
    if (end < 0) {
      throw syntax("unclosed comment");
    }
    char endModifier = src.charAt(end - 1);
    line += count(src, pos, end);
    pos = end + 2;
    afterTagEnd(endModifier == '-' || endModifier == '+' ? endModifier : 0, true);
  }

  private void rawBlock(Matcher begin) {
    pos = begin.end();
    if (!begin.group(1).isEmpty()) {
      while (pos < src.length() && PyStrings.isSpace(src.charAt(pos))) {
        pos++;
      }
    }
    Matcher end = RAW_END.matcher(src);
    if (!end.find(pos)) {
      throw syntax("missing {% endraw %}");
    }
    String content = src.substring(pos, end.start());
    if (end.group(1).equals("-")) {
      content = PyStrings.rstrip(content, null);
    }
    addText(content);
    line += count(src, begin.start(), end.end());
    pos = end.end();
    String m = end.group(2);
    afterTagEnd(m.isEmpty() ? 0 : m.charAt(0), true);
  }

  private void tagBody(Kind begin, Kind endKind, String close, boolean trims) {
    tokens.add(new Token(begin, "", null, line));
    while (true) {
      while (pos < src.length() && Character.isWhitespace(src.charAt(pos))) {
        if (src.charAt(pos) == '\n') {
          line++;
        }
        pos++;
      }
      if (pos >= src.length()) {
        throw syntax("unexpected end of template, expected '" + close + "'");
      }
      char modifier = src.charAt(pos);
      if ((modifier == '-' || modifier == '+') && src.startsWith(close, pos + 1)) {
        pos += 1 + close.length();
        tokens.add(new Token(endKind, "", null, line));
        afterTagEnd(modifier, trims);
        return;
      }
      if (src.startsWith(close, pos)) {
        pos += close.length();
        tokens.add(new Token(endKind, "", null, line));
        afterTagEnd((char) 0, trims);
        return;
      }
      tokens.add(expressionToken());
    }
  }

  private Token expressionToken() {
    char c = src.charAt(pos);
    if (Character.isLetter(c) || c == '_') {
      int start = pos;
      while (pos < src.length() && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
        pos++;
      }
      String name = src.substring(start, pos);
      return new Token(Kind.NAME, name, name, line);
    }
    if (Character.isDigit(c)) {
      return number();
    }
    if (c == '\'' || c == '"') {
      return string(c);
    }
    for (String op : OPERATORS) {
      if (src.startsWith(op, pos)) {
        pos += op.length();
        return new Token(Kind.OPERATOR, op, op, line);
      }
    }
    throw syntax("unexpected character '" + c + "'");
  }

  private Token number() {
    int start = pos;
    while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
      pos++;
    }
    boolean isFloat = false;
    if (pos + 1 < src.length() && src.charAt(pos) == '.' && Character.isDigit(src.charAt(pos + 1))) {
      isFloat = true;
      pos++;
      while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
        pos++;
      }
    }
    if (pos < src.length() && (src.charAt(pos) == 'e' || src.charAt(pos) == 'E')) {
      int save = pos;
      pos++;
      if (pos < src.length() && (src.charAt(pos) == '+' || src.charAt(pos) == '-')) {
        pos++;
      }
      if (pos < src.length() && Character.isDigit(src.charAt(pos))) {
        isFloat = true;
        while (pos < src.length() && Character.isDigit(src.charAt(pos))) {
          pos++;
        }
      } else {
        pos = save;
      }
    }
    String text = src.substring(start, pos).replace("_", "");
    return isFloat
        ? new Token(Kind.FLOAT, text, Double.parseDouble(text), line)
        : new Token(Kind.INTEGER, text, PyValues.intValue(new java.math.BigInteger(text)), line);
  }

  /** A string literal with Python's backslash escapes (Jinja2 decodes them with "unicode-escape"). */
  private Token string(char quote) {
    int startLine = line;
    StringBuilder sb = new StringBuilder();
    pos++;
    while (true) {
      if (pos >= src.length()) {
        throw syntax("unterminated string");
      }
      char c = src.charAt(pos++);
      if (c == quote) {
        break;
      }
      if (c == '\n') {
        line++;
      }
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      if (pos >= src.length()) {
        throw syntax("unterminated string");
      }
      char e = src.charAt(pos++);
      switch (e) {
        case 'n' -> sb.append('\n');
        case 't' -> sb.append('\t');
        case 'r' -> sb.append('\r');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'v' -> sb.append('\u000b');
        case 'a' -> sb.append('\u0007');
        case '\\', '\'', '"' -> sb.append(e);
        case '\n' -> line++;
        case 'x' -> sb.appendCodePoint(hex(2));
        case 'u' -> sb.appendCodePoint(hex(4));
        case 'U' -> sb.appendCodePoint(hex(8));
        default -> {
          if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 0; k < 2 && pos < src.length() && src.charAt(pos) >= '0' && src.charAt(pos) <= '7'; k++) {
              v = v * 8 + (src.charAt(pos++) - '0');
            }
            sb.appendCodePoint(v);
          } else {
            sb.append('\\').append(e);
          }
        }
      }
    }
    String value = sb.toString();
    return new Token(Kind.STRING, value, value, startLine);
  }

  private int hex(int digits) {
    if (pos + digits > src.length()) {
      throw syntax("truncated escape in string");
    }
    try {
      int v = Integer.parseInt(src.substring(pos, pos + digits), 16);
      pos += digits;
      return v;
    } catch (NumberFormatException e) {
      throw syntax("bad escape in string");
    }
  }

  private static int count(String s, int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) {
      if (s.charAt(i) == '\n') {
        n++;
      }
    }
    return n;
  }

  private ChatTemplateException syntax(String message) {
    return ChatTemplateException.error("template syntax error at line " + line + ": " + message);
  }
}
