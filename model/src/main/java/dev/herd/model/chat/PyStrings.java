package dev.herd.model.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Python's {@code str} methods as templates call them ({@code content.split('</think>')[-1].lstrip('\n')}), with
 * Python's definitions: whitespace is {@code str.isspace()}, lengths and indices count code points.
 */
final class PyStrings {
  private PyStrings() {}

  /** Python's {@code str.isspace()} for one code point (the set {@code \s} also matches in Python regexes). */
  static boolean isSpace(int cp) {
    return switch (cp) {
      case '\t', '\n', 0x0b, 0x0c, '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f,
          0x205f, 0x3000 -> true;
      default -> cp >= 0x2000 && cp <= 0x200a;
    };
  }

  private static boolean stripped(int cp, String chars) {
    return chars == null ? isSpace(cp) : chars.indexOf(Character.toString(cp)) >= 0;
  }

  static String lstrip(String s, String chars) {
    int i = 0;
    while (i < s.length()) {
      int cp = s.codePointAt(i);
      if (!stripped(cp, chars)) {
        break;
      }
      i += Character.charCount(cp);
    }
    return s.substring(i);
  }

  static String rstrip(String s, String chars) {
    int end = s.length();
    while (end > 0) {
      int cp = s.codePointBefore(end);
      if (!stripped(cp, chars)) {
        break;
      }
      end -= Character.charCount(cp);
    }
    return s.substring(0, end);
  }

  static String strip(String s, String chars) {
    return lstrip(rstrip(s, chars), chars);
  }

  /** {@code str.split(sep, maxsplit)}; with no separator, runs of whitespace split and ends are dropped. */
  static List<Object> split(String s, String sep, long maxsplit) {
    List<Object> out = new ArrayList<>();
    if (sep == null) {
      int i = 0;
      while (true) {
        while (i < s.length() && isSpace(s.codePointAt(i))) {
          i += Character.charCount(s.codePointAt(i));
        }
        if (i >= s.length()) {
          break;
        }
        if (maxsplit >= 0 && out.size() == maxsplit) {
          out.add(rstrip(s.substring(i), null));
          break;
        }
        int j = i;
        while (j < s.length() && !isSpace(s.codePointAt(j))) {
          j += Character.charCount(s.codePointAt(j));
        }
        out.add(s.substring(i, j));
        i = j;
      }
      return out;
    }
    if (sep.isEmpty()) {
      throw ChatTemplateException.error("empty separator");
    }
    int start = 0;
    while (maxsplit < 0 || out.size() < maxsplit) {
      int at = s.indexOf(sep, start);
      if (at < 0) {
        break;
      }
      out.add(s.substring(start, at));
      start = at + sep.length();
    }
    out.add(s.substring(start));
    return out;
  }

  /** {@code str.rsplit(sep, maxsplit)} for an explicit separator (the whitespace form falls back to split). */
  static List<Object> rsplit(String s, String sep, long maxsplit) {
    if (sep == null || maxsplit < 0) {
      return split(s, sep, maxsplit);
    }
    if (sep.isEmpty()) {
      throw ChatTemplateException.error("empty separator");
    }
    List<Object> out = new ArrayList<>();
    int end = s.length();
    while (out.size() < maxsplit) {
      int at = s.lastIndexOf(sep, end - sep.length());
      if (at < 0) {
        break;
      }
      out.addFirst(s.substring(at + sep.length(), end));
      end = at;
    }
    out.addFirst(s.substring(0, end));
    return out;
  }

  /** {@code str.replace(old, new, count)}; an empty {@code old} inserts between every code point, as Python does. */
  static String replace(String s, String old, String replacement, long count) {
    if (count < 0) {
      count = Long.MAX_VALUE;
    }
    StringBuilder sb = new StringBuilder();
    if (old.isEmpty()) {
      int i = 0;
      long done = 0;
      while (done < count) {
        sb.append(replacement);
        done++;
        if (i >= s.length()) {
          return sb.toString();
        }
        int cp = s.codePointAt(i);
        sb.appendCodePoint(cp);
        i += Character.charCount(cp);
      }
      return sb.append(s.substring(i)).toString();
    }
    int start = 0;
    long done = 0;
    while (done < count) {
      int at = s.indexOf(old, start);
      if (at < 0) {
        break;
      }
      sb.append(s, start, at).append(replacement);
      start = at + old.length();
      done++;
    }
    return sb.append(s.substring(start)).toString();
  }

  static String upper(String s) {
    return s.toUpperCase(Locale.ROOT);
  }

  static String lower(String s) {
    return s.toLowerCase(Locale.ROOT);
  }

  /** {@code str.title()}: a cased letter after an uncased character starts a word (so "it's" becomes "It'S"). */
  static String title(String s) {
    StringBuilder sb = new StringBuilder();
    boolean previousCased = false;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      if (previousCased) {
        sb.append(Character.toString(cp).toLowerCase(Locale.ROOT));
      } else {
        sb.appendCodePoint(Character.toTitleCase(cp));
      }
      previousCased = isCased(cp);
    }
    return sb.toString();
  }

  private static boolean isCased(int cp) {
    return Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
  }

  /** {@code str.capitalize()}: first character title-cased, the rest lower-cased. */
  static String capitalize(String s) {
    if (s.isEmpty()) {
      return s;
    }
    int cp = s.codePointAt(0);
    return Character.toString(Character.toTitleCase(cp)) + lower(s.substring(Character.charCount(cp)));
  }

  static boolean startsWith(String s, Object prefix) {
    if (prefix instanceof List<?> options) {
      return options.stream().anyMatch(p -> startsWith(s, p));
    }
    return s.startsWith(requireString(prefix, "startswith"));
  }

  static boolean endsWith(String s, Object suffix) {
    if (suffix instanceof List<?> options) {
      return options.stream().anyMatch(p -> endsWith(s, p));
    }
    return s.endsWith(requireString(suffix, "endswith"));
  }

  static String requireString(Object v, String what) {
    if (v instanceof String s) {
      return s;
    }
    throw ChatTemplateException.error(what + " expects a string, got " + PyValues.typeName(v));
  }

  /** Code-point index of {@code needle} in {@code s} (Python's find), or -1. */
  static long find(String s, String needle, boolean last) {
    int at = last ? s.lastIndexOf(needle) : s.indexOf(needle);
    return at < 0 ? -1 : s.codePointCount(0, at);
  }

  static long count(String s, String needle) {
    if (needle.isEmpty()) {
      return s.codePointCount(0, s.length()) + 1L;
    }
    long n = 0;
    for (int at = s.indexOf(needle); at >= 0; at = s.indexOf(needle, at + needle.length())) {
      n++;
    }
    return n;
  }

  /** {@code str.splitlines()} on Python's line boundaries. */
  static List<Object> splitlines(String s, boolean keepends) {
    List<Object> out = new ArrayList<>();
    int start = 0;
    int i = 0;
    while (i < s.length()) {
      char c = s.charAt(i);
      int width = c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 2 : 1;
      if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85
          || c == 0x2028 || c == 0x2029) {
        out.add(s.substring(start, keepends ? i + width : i));
        start = i + width;
      }
      i += width;
    }
    if (start < s.length()) {
      out.add(s.substring(start));
    }
    return out;
  }

  /** The code points of {@code s} from {@code [start, stop)} stepping by {@code step}, already clamped. */
  static String slice(String s, List<Integer> indices) {
    int[] cps = s.codePoints().toArray();
    StringBuilder sb = new StringBuilder();
    for (int i : indices) {
      sb.appendCodePoint(cps[i]);
    }
    return sb.toString();
  }

  static boolean all(String s, java.util.function.IntPredicate p) {
    return !s.isEmpty() && s.codePoints().allMatch(p);
  }
}
