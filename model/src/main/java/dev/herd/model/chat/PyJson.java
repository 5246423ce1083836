package dev.herd.model.chat;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps}, which is what transformers installs as the {@code tojson} filter: {@code
 * json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)}. Its defaults differ
 * from compact JSON ({@code ", "} and {@code ": "} separators, {@code ","} as item separator once indenting) and
 * tool definitions are printed into prompts this way, so every byte matters.
 */
final class PyJson {
  private PyJson() {}

  record Options(boolean ensureAscii, String indent, String itemSeparator, String keySeparator, boolean sortKeys) {}

  /**
   * @param indent null for one line, a Long (spaces) or a String (used as-is), as Python accepts
   * @param separators null or a two-item list {@code [item_separator, key_separator]}
   */
  static Options options(boolean ensureAscii, Object indent, Object separators, boolean sortKeys) {
    String indentText = switch (indent) {
      case null -> null;
      case Long n -> " ".repeat((int) Math.max(0, n));
      case String s -> s;
      default -> throw ChatTemplateException.error("tojson: indent must be an int or a string");
    };
    String item = indentText == null ? ", " : ",";
    String key = ": ";
    if (separators instanceof List<?> pair && pair.size() == 2
        && pair.get(0) instanceof String a && pair.get(1) instanceof String b) {
      item = a;
      key = b;
    } else if (separators != null) {
      throw ChatTemplateException.error("tojson: separators must be a pair of strings");
    }
    return new Options(ensureAscii, indentText, item, key, sortKeys);
  }

  static String dumps(Object value, Options options) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, options, 0);
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object value, Options o, int depth) {
    switch (value) {
      case null -> sb.append("null");
      case Boolean b -> sb.append(b ? "true" : "false");
      case Long l -> sb.append(l);
      case BigInteger b -> sb.append(b);
      case Double d -> sb.append(
          d.isNaN() ? "NaN" : d.isInfinite() ? (d > 0 ? "Infinity" : "-Infinity") : PyValues.floatRepr(d));
      case String s -> writeString(sb, s, o.ensureAscii());
      case List<?> list -> {
        if (list.isEmpty()) {
          sb.append("[]");
          return;
        }
        sb.append('[');
        for (int i = 0; i < list.size(); i++) {
          sb.append(i == 0 ? "" : o.itemSeparator());
          newline(sb, o, depth + 1);
          write(sb, list.get(i), o, depth + 1);
        }
        newline(sb, o, depth);
        sb.append(']');
      }
      case Map<?, ?> map -> {
        if (map.isEmpty()) {
          sb.append("{}");
          return;
        }
        List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
        if (o.sortKeys()) {
          entries.sort((a, b) -> PyValues.compare(a.getKey(), b.getKey(), "<"));
        }
        sb.append('{');
        for (int i = 0; i < entries.size(); i++) {
          sb.append(i == 0 ? "" : o.itemSeparator());
          newline(sb, o, depth + 1);
          writeString(sb, keyText(entries.get(i).getKey()), o.ensureAscii());
          sb.append(o.keySeparator());
          write(sb, entries.get(i).getValue(), o, depth + 1);
        }
        newline(sb, o, depth);
        sb.append('}');
      }
      default -> throw ChatTemplateException.error(
          "Object of type " + PyValues.typeName(value) + " is not JSON serializable");
    }
  }

  /** json.dumps turns non-string keys into strings: ints as digits, floats as repr, bools and None as literals. */
  private static String keyText(Object key) {
    return switch (key) {
      case String s -> s;
      case null -> "null";
      case Boolean b -> b ? "true" : "false";
      case Long l -> l.toString();
      case java.math.BigInteger b -> b.toString();
      case Double d -> PyValues.floatRepr(d);
      default -> throw ChatTemplateException.error(
          "keys must be str, int, float, bool or None, not " + PyValues.typeName(key));
    };
  }

  private static void newline(StringBuilder sb, Options o, int depth) {
    if (o.indent() != null) {
      sb.append('\n').append(o.indent().repeat(depth));
    }
  }

  static void writeString(StringBuilder sb, String s, boolean ensureAscii) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          // Python escapes UTF-16 units, so a supplementary character becomes its surrogate pair.
          if (c < 0x20 || (ensureAscii && c > 0x7e)) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}
