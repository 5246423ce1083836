package dev.herd.model.chat;

import dev.herd.model.chat.JinjaAst.Expr;
import dev.herd.model.chat.JinjaAst.FilterCall;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Jinja2's built-in filters and tests (plus transformers' {@code tojson}) with the signatures and Python behaviour of
 * Jinja2 3.1: e.g. {@code selectattr}/{@code map}/{@code reverse} return one-shot iterators, string filters {@code
 * str()} their input, and {@code trim} strips Python whitespace.
 */
final class JinjaFilters {
  private JinjaFilters() {}

  private static final Pattern WORD_BEGINNING = Pattern.compile("([-\\s({\\[<]+)");

  /** Positional and keyword arguments of one filter call, read the way Python binds a signature. */
  private record Args(List<Object> positional, Map<String, Object> keywords) {
    Object get(int i, String name, Object fallback) {
      return PyMethods.arg(positional, keywords, i, name, fallback);
    }
  }

  static Object apply(JinjaInterpreter in, FilterCall f, Object value, JinjaInterpreter.Frame frame) {
    List<Object> args = new ArrayList<>();
    for (Expr e : f.args()) {
      args.add(in.eval(e, frame));
    }
    Map<String, Object> kwargs = new LinkedHashMap<>();
    for (int i = 0; i < f.kwNames().size(); i++) {
      kwargs.put(f.kwNames().get(i), in.eval(f.kwValues().get(i), frame));
    }
    return filter(in, f.name(), value, new Args(args, kwargs));
  }

  private static Object filter(JinjaInterpreter in, String name, Object value, Args a) {
    return switch (name) {
      case "safe" -> value;
      case "length", "count" -> PyValues.length(value);
      case "string" -> PyValues.str(value);
      case "trim" -> PyStrings.strip(PyValues.str(value), optString(a.get(0, "chars", null)));
      case "upper" -> PyStrings.upper(PyValues.str(value));
      case "lower" -> PyStrings.lower(PyValues.str(value));
      case "capitalize" -> PyStrings.capitalize(PyValues.str(value));
      case "title" -> title(PyValues.str(value));
      case "replace" -> PyStrings.replace(PyValues.str(value), PyValues.str(a.get(0, "old", "")),
          PyValues.str(a.get(1, "new", "")), a.get(2, "count", null) == null ? -1 : PyValues.toIndex(a.get(2, "count", null)));
      case "tojson" -> tojson(value, a);
      case "list" -> PyValues.iterate(value);
      case "first" -> {
        List<Object> items = PyValues.iterate(value);
        yield items.isEmpty() ? new Undefined("No first item, sequence was empty.") : items.getFirst();
      }
      case "last" -> {
        if (value instanceof PyIterator it) {
          throw ChatTemplateException.error("'" + it.pythonType() + "' object is not reversible");
        }
        List<Object> items = PyValues.iterate(value);
        yield items.isEmpty() ? new Undefined("No last item, sequence was empty.") : items.getLast();
      }
      case "join" -> {
        Object attribute = a.get(1, "attribute", null);
        StringBuilder sb = new StringBuilder();
        String sep = PyValues.str(a.get(0, "d", ""));
        List<Object> items = PyValues.iterate(value);
        for (int i = 0; i < items.size(); i++) {
          Object item = attribute == null ? items.get(i) : attr(items.get(i), attribute);
          sb.append(i == 0 ? "" : sep).append(PyValues.str(item));
        }
        yield sb.toString();
      }
      case "default", "d" -> {
        Object fallback = a.get(0, "default_value", "");
        boolean onFalsy = PyValues.truthy(a.get(1, "boolean", false));
        yield value instanceof Undefined || (onFalsy && !PyValues.truthy(value)) ? fallback : value;
      }
      case "items" -> {
        if (value instanceof Undefined) {
          yield new PyIterator(List.of(), "generator");
        }
        if (!(value instanceof Map<?, ?> m)) {
          throw ChatTemplateException.error("Can only get item pairs from a mapping.");
        }
        List<Object> pairs = new ArrayList<>();
        m.forEach((k, v) -> pairs.add(PyMethods.pair(k, v)));
        yield new PyIterator(pairs, "dict_itemiterator");
      }
      case "dictsort" -> dictsort(value, a);
      case "sort" -> {
        List<Object> items = PyValues.iterate(value);
        boolean reverse = PyValues.truthy(a.get(0, "reverse", false));
        boolean caseSensitive = PyValues.truthy(a.get(1, "case_sensitive", false));
        Object attribute = a.get(2, "attribute", null);
        items.sort(ordering(caseSensitive, attribute));
        if (reverse) {
          java.util.Collections.reverse(items);
        }
        yield items;
      }
      case "reverse" -> {
        if (value instanceof String s) {
          yield new StringBuilder(s).reverse().toString();
        }
        List<Object> items = PyValues.iterate(value);
        java.util.Collections.reverse(items);
        yield value instanceof List<?> ? new PyIterator(items, "list_reverseiterator") : items;
      }
      case "unique" -> {
        boolean caseSensitive = PyValues.truthy(a.get(0, "case_sensitive", false));
        Object attribute = a.get(1, "attribute", null);
        List<Object> out = new ArrayList<>();
        List<Object> seen = new ArrayList<>();
        for (Object item : PyValues.iterate(value)) {
          Object key = foldCase(attribute == null ? item : attr(item, attribute), caseSensitive);
          if (seen.stream().noneMatch(x -> PyValues.pyEquals(x, key))) {
            seen.add(key);
            out.add(item);
          }
        }
        yield new PyIterator(out, "generator");
      }
      case "min", "max" -> {
        List<Object> items = PyValues.iterate(value);
        if (items.isEmpty()) {
          yield new Undefined("No aggregated item, sequence was empty.");
        }
        Comparator<Object> order = ordering(PyValues.truthy(a.get(0, "case_sensitive", false)),
            a.get(1, "attribute", null));
        yield name.equals("min") ? items.stream().min(order).orElseThrow() : items.stream().max(order).orElseThrow();
      }
      case "sum" -> {
        Object attribute = a.get(0, "attribute", null);
        Object total = a.get(1, "start", 0L);
        for (Object item : PyValues.iterate(value)) {
          total = JinjaInterpreter.binary("+", total, attribute == null ? item : attr(item, attribute));
        }
        yield total;
      }
      case "map" -> map(in, value, a);
      case "select", "reject" -> {
        List<Object> out = new ArrayList<>();
        boolean keep = name.equals("select");
        for (Object item : PyValues.iterate(value)) {
          boolean result = a.positional().isEmpty() ? PyValues.truthy(item)
              : test(in, PyValues.str(a.positional().getFirst()), item,
                  a.positional().subList(1, a.positional().size()));
          if (result == keep) {
            out.add(item);
          }
        }
        yield new PyIterator(out, "generator");
      }
      case "selectattr", "rejectattr" -> {
        List<Object> out = new ArrayList<>();
        boolean keep = name.equals("selectattr");
        Object attribute = a.get(0, "attr", null);
        for (Object item : PyValues.iterate(value)) {
          Object v = attr(item, attribute);
          boolean result = a.positional().size() < 2 ? PyValues.truthy(v)
              : test(in, PyValues.str(a.positional().get(1)), v, a.positional().subList(2, a.positional().size()));
          if (result == keep) {
            out.add(item);
          }
        }
        yield new PyIterator(out, "generator");
      }
      case "attr" -> JinjaInterpreter.getattr(value, PyValues.str(a.get(0, "name", "")));
      case "abs" -> {
        if (value instanceof Double d) {
          yield Math.abs(d);
        }
        yield PyValues.intValue(PyValues.toBigInteger(value).abs());
      }
      case "int" -> toInt(value, a.get(0, "default", 0L), PyValues.toIndex(a.get(1, "base", 10L)));
      case "float" -> toFloat(value, a.get(0, "default", 0.0));
      case "round" -> round(value, a);
      case "indent" -> indent(PyValues.str(value), a);
      case "center" -> {
        String s = PyValues.str(value);
        int width = (int) PyValues.toIndex(a.get(0, "width", 80L));
        int len = s.codePointCount(0, s.length());
        if (width <= len) {
          yield s;
        }
        int marg = width - len;
        int left = marg / 2 + (marg & width & 1);
        yield " ".repeat(left) + s + " ".repeat(marg - left);
      }
      case "wordcount" -> (long) PyStrings.split(PyValues.str(value), null, -1).size();
      case "format" -> a.keywords().isEmpty() ? printf(PyValues.str(value), a.positional())
          : printfNamed(PyValues.str(value), a.keywords());
      case "e", "escape", "forceescape" -> escape(PyValues.str(value));
      case "batch" -> {
        int size = (int) PyValues.toIndex(a.get(0, "linecount", 1L));
        Object fill = a.get(1, "fill_with", null);
        boolean pad = a.positional().size() > 1 || a.keywords().containsKey("fill_with");
        List<Object> out = new ArrayList<>();
        List<Object> current = new ArrayList<>();
        for (Object item : PyValues.iterate(value)) {
          if (current.size() == size) {
            out.add(current);
            current = new ArrayList<>();
          }
          current.add(item);
        }
        if (!current.isEmpty()) {
          while (pad && current.size() < size) {
            current.add(fill);
          }
          out.add(current);
        }
        yield new PyIterator(out, "generator");
      }
      default -> throw ChatTemplateException.error("No filter named '" + name + "'.");
    };
  }

  private static String optString(Object v) {
    return v == null ? null : PyValues.str(v);
  }

  /** transformers' tojson: {@code json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)}. */
  private static String tojson(Object value, Args a) {
    boolean ensureAscii = PyValues.truthy(a.get(0, "ensure_ascii", false));
    Object indent = a.get(1, "indent", null);
    Object separators = a.get(2, "separators", null);
    boolean sortKeys = PyValues.truthy(a.get(3, "sort_keys", false));
    if (indent instanceof Boolean b) {
      indent = b ? 1L : 0L;
    }
    return PyJson.dumps(value, PyJson.options(ensureAscii, indent, separators, sortKeys));
  }

  /** Jinja2's {@code title} filter: capitalises after {@code -}, whitespace or an opening bracket (not after '). */
  private static String title(String s) {
    StringBuilder sb = new StringBuilder();
    Matcher m = WORD_BEGINNING.matcher(s);
    int last = 0;
    List<String> parts = new ArrayList<>();
    while (m.find()) {
      parts.add(s.substring(last, m.start()));
      parts.add(m.group());
      last = m.end();
    }
    parts.add(s.substring(last));
    for (String item : parts) {
      if (!item.isEmpty()) {
        int cp = item.codePointAt(0);
        sb.append(PyStrings.upper(Character.toString(cp)))
            .append(PyStrings.lower(item.substring(Character.charCount(cp))));
      }
    }
    return sb.toString();
  }

  /** Jinja2's attribute getter for selectattr/map/sort: dotted path, item lookup first, digits as indices. */
  private static Object attr(Object item, Object attribute) {
    if (attribute == null) {
      return item;
    }
    Object v = item;
    for (String part : PyValues.str(attribute).split("\\.")) {
      Object key = part.chars().allMatch(Character::isDigit) && !part.isEmpty() ? (Object) Long.parseLong(part) : part;
      v = JinjaInterpreter.getitem(v, key);
    }
    return v;
  }

  private static Object foldCase(Object v, boolean caseSensitive) {
    return !caseSensitive && v instanceof String s ? PyStrings.lower(s) : v;
  }

  private static Comparator<Object> ordering(boolean caseSensitive, Object attribute) {
    return (x, y) -> PyValues.compare(foldCase(attr(x, attribute), caseSensitive),
        foldCase(attr(y, attribute), caseSensitive), "<");
  }

  private static Object dictsort(Object value, Args a) {
    if (!(value instanceof Map<?, ?> m)) {
      throw ChatTemplateException.error("dictsort expects a mapping");
    }
    boolean caseSensitive = PyValues.truthy(a.get(0, "case_sensitive", false));
    String by = PyValues.str(a.get(1, "by", "key"));
    boolean reverse = PyValues.truthy(a.get(2, "reverse", false));
    int pos = by.equals("key") ? 0 : 1;
    List<Object> pairs = new ArrayList<>();
    m.forEach((k, v) -> pairs.add(PyMethods.pair(k, v)));
    pairs.sort((x, y) -> PyValues.compare(foldCase(((List<?>) x).get(pos), caseSensitive),
        foldCase(((List<?>) y).get(pos), caseSensitive), "<"));
    if (reverse) {
      java.util.Collections.reverse(pairs);
    }
    return pairs;
  }

  private static Object map(JinjaInterpreter in, Object value, Args a) {
    List<Object> out = new ArrayList<>();
    if (a.positional().isEmpty() && a.keywords().containsKey("attribute")) {
      Object attribute = a.keywords().get("attribute");
      boolean hasDefault = a.keywords().containsKey("default");
      for (Object item : PyValues.iterate(value)) {
        Object v = attr(item, attribute);
        out.add(hasDefault && v instanceof Undefined ? a.keywords().get("default") : v);
      }
    } else {
      if (a.positional().isEmpty()) {
        throw ChatTemplateException.error("map requires a filter argument");
      }
      String filterName = PyValues.str(a.positional().getFirst());
      Args rest = new Args(a.positional().subList(1, a.positional().size()), a.keywords());
      for (Object item : PyValues.iterate(value)) {
        out.add(filter(in, filterName, item, rest));
      }
    }
    return new PyIterator(out, "generator");
  }

  private static Object toInt(Object value, Object fallback, long base) {
    return switch (value) {
      case Boolean b -> b ? 1L : 0L;
      case Long l -> l;
      case Double d -> Double.isFinite(d) ? PyValues.intValue(new java.math.BigDecimal(d).toBigInteger()) : fallback;
      case String s -> {
        try {
          yield PyValues.intValue(new java.math.BigInteger(PyStrings.strip(s, null).replace("_", ""), (int) base));
        } catch (NumberFormatException e) {
          try {
            yield toInt(Double.parseDouble(PyStrings.strip(s, null)), fallback, base);
          } catch (NumberFormatException e2) {
            yield fallback;
          }
        }
      }
      case null, default -> value instanceof java.math.BigInteger ? value : fallback;
    };
  }

  private static Object toFloat(Object value, Object fallback) {
    return switch (value) {
      case Double d -> d;
      case Long l -> (double) l;
      case Boolean b -> b ? 1.0 : 0.0;
      case String s -> {
        try {
          yield Double.parseDouble(PyStrings.strip(s, null));
        } catch (NumberFormatException e) {
          yield fallback;
        }
      }
      case null, default -> fallback;
    };
  }

  /**
   * Jinja2's round: "common" is Python's round(), which rounds the exact binary value half to even (so 2.5 gives
   * 2.0 and 2.675 gives 2.67); "ceil"/"floor" scale by 10**precision in floating point, as Jinja2 does.
   */
  private static Object round(Object value, Args a) {
    long precision = PyValues.toIndex(a.get(0, "precision", 0L));
    String method = PyValues.str(a.get(1, "method", "common"));
    double x = PyValues.toDouble(value);
    if (!Double.isFinite(x)) {
      return x;
    }
    double scale = Math.pow(10, precision);
    return switch (method) {
      case "common" -> new java.math.BigDecimal(x).setScale((int) precision, java.math.RoundingMode.HALF_EVEN)
          .doubleValue();
      case "ceil" -> Math.ceil(x * scale) / scale;
      case "floor" -> Math.floor(x * scale) / scale;
      default -> throw ChatTemplateException.error("method must be common, ceil or floor");
    };
  }

  /** Jinja2's do_indent, including its quirk of appending a newline before splitting lines. */
  private static String indent(String s, Args a) {
    Object width = a.get(0, "width", 4L);
    String pad = width instanceof String w ? w : " ".repeat((int) PyValues.toIndex(width));
    boolean first = PyValues.truthy(a.get(1, "first", false));
    boolean blank = PyValues.truthy(a.get(2, "blank", false));
    List<Object> lines = PyStrings.splitlines(s + "\n", false);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < lines.size(); i++) {
      String line = (String) lines.get(i);
      if (i > 0) {
        sb.append('\n').append(blank || !line.isEmpty() ? pad : "");
      }
      sb.append(line);
    }
    return (first ? pad : "") + sb;
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&#34;")
        .replace("'", "&#39;");
  }

  /** Python's printf-style {@code "%s" % args} for the conversions templates use. */
  static String printf(String format, List<Object> values) {
    StringBuilder sb = new StringBuilder();
    int next = 0;
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%') {
        sb.append(c);
        continue;
      }
      if (++i >= format.length()) {
        throw ChatTemplateException.error("incomplete format");
      }
      char conv = format.charAt(i);
      if (conv == '%') {
        sb.append('%');
        continue;
      }
      if (next >= values.size()) {
        throw ChatTemplateException.error("not enough arguments for format string");
      }
      Object v = values.get(next++);
      sb.append(switch (conv) {
        case 's' -> PyValues.str(v);
        case 'r' -> PyValues.repr(v);
        case 'd', 'i' -> PyValues.str(toInt(v, 0L, 10));
        case 'f' -> String.format("%.6f", PyValues.toDouble(v));
        default -> throw ChatTemplateException.error("unsupported format character '" + conv + "'");
      });
    }
    if (next < values.size()) {
      throw ChatTemplateException.error("not all arguments converted during string formatting");
    }
    return sb.toString();
  }

  private static String printfNamed(String format, Map<String, Object> values) {
    Matcher m = Pattern.compile("%\\(([^)]*)\\)s").matcher(format);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, Matcher.quoteReplacement(PyValues.str(values.get(m.group(1)))));
    }
    m.appendTail(sb);
    return sb.toString();
  }

  // ---- tests ----

  static boolean test(JinjaInterpreter in, String name, Object v, List<Object> args) {
    return switch (name) {
      case "defined" -> !(v instanceof Undefined);
      case "undefined" -> v instanceof Undefined;
      case "none" -> v == null;
      case "boolean" -> v instanceof Boolean;
      case "true" -> Boolean.TRUE.equals(v);
      case "false" -> Boolean.FALSE.equals(v);
      case "integer" -> v instanceof Long || v instanceof java.math.BigInteger;
      case "float" -> v instanceof Double;
      case "number" -> PyValues.isNumber(v);
      case "string" -> v instanceof String;
      case "mapping" -> v instanceof Map<?, ?>;
      case "iterable" -> v instanceof String || v instanceof List<?> || v instanceof Map<?, ?>
          || v instanceof PyIterator || v instanceof Undefined;
      case "sequence" -> v instanceof String || v instanceof List<?> || v instanceof Map<?, ?>
          || v instanceof Undefined;
      case "callable" -> v instanceof PyCallable;
      case "odd" -> PyValues.toBigInteger(v).testBit(0);
      case "even" -> !PyValues.toBigInteger(v).testBit(0);
      case "divisibleby" -> PyValues.toBigInteger(v).mod(PyValues.toBigInteger(args.getFirst()).abs()).signum() == 0;
      case "lower" -> PyValues.str(v).equals(PyStrings.lower(PyValues.str(v)));
      case "upper" -> PyValues.str(v).equals(PyStrings.upper(PyValues.str(v)));
      case "sameas" -> v == args.getFirst() || (v instanceof Boolean && v.equals(args.getFirst()));
      case "escaped" -> false;
      case "eq", "equalto", "==" -> PyValues.pyEquals(v, args.getFirst());
      case "ne", "!=" -> !PyValues.pyEquals(v, args.getFirst());
      case "lt", "lessthan", "<" -> in.compare("<", v, args.getFirst());
      case "le", "<=" -> in.compare("<=", v, args.getFirst());
      case "gt", "greaterthan", ">" -> in.compare(">", v, args.getFirst());
      case "ge", ">=" -> in.compare(">=", v, args.getFirst());
      case "in" -> PyValues.contains(args.getFirst(), v);
      default -> throw ChatTemplateException.error("No test named '" + name + "'.");
    };
  }
}
