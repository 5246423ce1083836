package dev.herd.model.chat;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Python value model the templates are written against, on plain Java objects: {@code None} is null, {@code
 * int} is Long, {@code float} is Double, {@code bool} is Boolean, {@code str} is String, {@code list}/{@code tuple}
 * are List and {@code dict} is an insertion-ordered Map. Truthiness, {@code str()}, {@code repr()}, equality and
 * ordering follow Python, because HF renders templates with Python's Jinja2 and the exact output is the contract.
 */
final class PyValues {
  private PyValues() {}

  /** Converts caller-supplied Java/Jackson values into the template value model (deeply, into fresh containers). */
  static Object fromJava(Object value) {
    return switch (value) {
      case null -> null;
      case String s -> s;
      case Boolean b -> b;
      case Long l -> l;
      case Integer i -> (long) i;
      case Short s -> (long) s;
      case Byte b -> (long) b;
      case BigInteger b -> b.bitLength() < 64 ? (Object) b.longValue() : b;
      case Double d -> d;
      case Float f -> (double) f;
      case BigDecimal d -> d.doubleValue();
      case Character c -> c.toString();
      case JsonNode node -> fromJson(node);
      case Map<?, ?> map -> {
        Map<String, Object> out = new LinkedHashMap<>();
        map.forEach((k, v) -> out.put(String.valueOf(k), fromJava(v)));
        yield out;
      }
      case Iterable<?> list -> {
        List<Object> out = new ArrayList<>();
        list.forEach(v -> out.add(fromJava(v)));
        yield out;
      }
      case Object[] array -> fromJava(List.of(array));
      case Namespace ns -> ns;
      case Undefined u -> u;
      case PyCallable c -> c;
      default -> throw ChatTemplateException.error(
          "cannot pass a " + value.getClass().getName() + " to a chat template");
    };
  }

  static Object fromJson(JsonNode node) {
    if (node == null || node.isNull() || node.isMissingNode()) {
      return null;
    }
    if (node.isTextual()) {
      return node.textValue();
    }
    if (node.isBoolean()) {
      return node.booleanValue();
    }
    if (node.isIntegralNumber()) {
      return node.canConvertToLong() ? (Object) node.longValue() : node.bigIntegerValue();
    }
    if (node.isNumber()) {
      return node.doubleValue();
    }
    if (node.isArray()) {
      List<Object> out = new ArrayList<>();
      node.forEach(v -> out.add(fromJson(v)));
      return out;
    }
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : node.properties()) {
      out.put(e.getKey(), fromJson(e.getValue()));
    }
    return out;
  }

  static boolean truthy(Object v) {
    return switch (v) {
      case null -> false;
      case Boolean b -> b;
      case String s -> !s.isEmpty();
      case Long l -> l != 0;
      case Double d -> d != 0.0;
      case BigInteger b -> b.signum() != 0;
      case List<?> l -> !l.isEmpty();
      case Map<?, ?> m -> !m.isEmpty();
      case Undefined u -> false;
      default -> true;
    };
  }

  static boolean isNumber(Object v) {
    return v instanceof Long || v instanceof Double || v instanceof Boolean || v instanceof BigInteger;
  }

  static boolean isInteger(Object v) {
    return v instanceof Long || v instanceof Boolean || v instanceof BigInteger;
  }

  static String typeName(Object v) {
    return switch (v) {
      case null -> "NoneType";
      case String s -> "str";
      case Boolean b -> "bool";
      case Long l -> "int";
      case BigInteger b -> "int";
      case Double d -> "float";
      case List<?> l -> "list";
      case Map<?, ?> m -> "dict";
      case Undefined u -> "Undefined";
      case Namespace n -> "Namespace";
      case PyCallable c -> "function";
      case PyIterator it -> it.pythonType();
      case LoopContext l -> "LoopContext";
      default -> v.getClass().getSimpleName();
    };
  }

  /** Python's {@code str(v)}; Jinja2 prints {@code {{ v }}} this way (None prints as "None"). */
  static String str(Object v) {
    return switch (v) {
      case null -> "None";
      case String s -> s;
      case Boolean b -> b ? "True" : "False";
      case Long l -> l.toString();
      case BigInteger b -> b.toString();
      case Double d -> floatRepr(d);
      case Undefined u -> "";
      default -> repr(v);
    };
  }

  /** Python's {@code repr(v)}, used for containers printed with {@code str()}. */
  static String repr(Object v) {
    return switch (v) {
      case null -> "None";
      case String s -> stringRepr(s);
      case List<?> list -> {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < list.size(); i++) {
          sb.append(i == 0 ? "" : ", ").append(repr(list.get(i)));
        }
        yield sb.append(']').toString();
      }
      case Map<?, ?> map -> {
        StringBuilder sb = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<?, ?> e : map.entrySet()) {
          sb.append(first ? "" : ", ").append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
          first = false;
        }
        yield sb.append('}').toString();
      }
      case Undefined u -> "Undefined";
      case Namespace ns -> "<Namespace " + repr(ns.attributes) + ">";
      case PyCallable c -> "<function>";
      case PyIterator it -> it.toString();
      case LoopContext l -> "<LoopContext>";
      default -> str(v);
    };
  }

  /** Python 3's {@code repr(str)}: single quotes unless the text has ' and no ", non-printables escaped. */
  static String stringRepr(String s) {
    char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
    StringBuilder sb = new StringBuilder().append(quote);
    s.codePoints().forEach(cp -> {
      if (cp == quote || cp == '\\') {
        sb.append('\\').appendCodePoint(cp);
      } else if (cp == '\t') {
        sb.append("\\t");
      } else if (cp == '\n') {
        sb.append("\\n");
      } else if (cp == '\r') {
        sb.append("\\r");
      } else if (cp < 0x20 || cp == 0x7f) {
        sb.append(String.format("\\x%02x", cp));
      } else if (cp < 0x7f || isPrintable(cp)) {
        sb.appendCodePoint(cp);
      } else if (cp <= 0xff) {
        sb.append(String.format("\\x%02x", cp));
      } else if (cp <= 0xffff) {
        sb.append(String.format("\\u%04x", cp));
      } else {
        sb.append(String.format("\\U%08x", cp));
      }
    });
    return sb.append(quote).toString();
  }

  /** Python's str.isprintable for one code point: not "Other" and not a separator other than the space. */
  private static boolean isPrintable(int cp) {
    return switch (Character.getType(cp)) {
      case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
          Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> cp == ' ';
      default -> true;
    };
  }

  /**
   * Python's {@code repr(float)}: the shortest digits that round-trip (Java's Double.toString gives those since
   * JDK 19), fixed notation when the decimal exponent is in (-4, 16], otherwise {@code d.ddde+XX}.
   */
  static String floatRepr(double d) {
    if (Double.isNaN(d)) {
      return "nan";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "inf" : "-inf";
    }
    if (d == 0.0) {
      return (1 / d < 0) ? "-0.0" : "0.0";
    }
    BigDecimal exact = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
    String digits = exact.unscaledValue().toString();
    int decpt = digits.length() - exact.scale();
    StringBuilder sb = new StringBuilder(d < 0 ? "-" : "");
    if (decpt > -4 && decpt <= 16) {
      if (decpt <= 0) {
        sb.append("0.").append("0".repeat(-decpt)).append(digits);
      } else if (decpt >= digits.length()) {
        sb.append(digits).append("0".repeat(decpt - digits.length())).append(".0");
      } else {
        sb.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
      }
    } else {
      sb.append(digits.charAt(0));
      if (digits.length() > 1) {
        sb.append('.').append(digits, 1, digits.length());
      }
      int exp = decpt - 1;
      sb.append('e').append(exp < 0 ? '-' : '+').append(String.format("%02d", Math.abs(exp)));
    }
    return sb.toString();
  }

  static boolean pyEquals(Object a, Object b) {
    if (a == b) {
      return true;
    }
    if (a == null || b == null) {
      return false;
    }
    if (isNumber(a) && isNumber(b)) {
      if (a instanceof Double || b instanceof Double) {
        return toDouble(a) == toDouble(b);
      }
      return toBigInteger(a).equals(toBigInteger(b));
    }
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      if (la.size() != lb.size()) {
        return false;
      }
      for (int i = 0; i < la.size(); i++) {
        if (!pyEquals(la.get(i), lb.get(i))) {
          return false;
        }
      }
      return true;
    }
    if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
      if (ma.size() != mb.size()) {
        return false;
      }
      for (Map.Entry<?, ?> e : ma.entrySet()) {
        if (!mb.containsKey(e.getKey()) || !pyEquals(e.getValue(), mb.get(e.getKey()))) {
          return false;
        }
      }
      return true;
    }
    return a.equals(b);
  }

  /** Python's ordering ({@code <}): numbers, strings by code point, lists lexicographically; else TypeError. */
  static int compare(Object a, Object b, String op) {
    if (isNumber(a) && isNumber(b)) {
      if (a instanceof Double || b instanceof Double) {
        return Double.compare(toDouble(a), toDouble(b));
      }
      return toBigInteger(a).compareTo(toBigInteger(b));
    }
    if (a instanceof String sa && b instanceof String sb) {
      return compareCodePoints(sa, sb);
    }
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      for (int i = 0; i < Math.min(la.size(), lb.size()); i++) {
        if (!pyEquals(la.get(i), lb.get(i))) {
          return compare(la.get(i), lb.get(i), op);
        }
      }
      return Integer.compare(la.size(), lb.size());
    }
    throw ChatTemplateException.error(
        "'" + op + "' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'");
  }

  static int compareCodePoints(String a, String b) {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int ca = a.codePointAt(i);
      int cb = b.codePointAt(j);
      if (ca != cb) {
        return Integer.compare(ca, cb);
      }
      i += Character.charCount(ca);
      j += Character.charCount(cb);
    }
    return Boolean.compare(i < a.length(), j < b.length());
  }

  static double toDouble(Object v) {
    return switch (v) {
      case null -> throw ChatTemplateException.error("expected a number, got NoneType");
      case Double d -> d;
      case Long l -> l;
      case Boolean b -> b ? 1 : 0;
      case BigInteger b -> b.doubleValue();
      default -> throw ChatTemplateException.error("expected a number, got " + typeName(v));
    };
  }

  static BigInteger toBigInteger(Object v) {
    return switch (v) {
      case null -> throw ChatTemplateException.error("expected an integer, got NoneType");
      case Long l -> BigInteger.valueOf(l);
      case Boolean b -> b ? BigInteger.ONE : BigInteger.ZERO;
      case BigInteger b -> b;
      default -> throw ChatTemplateException.error("expected an integer, got " + typeName(v));
    };
  }

  /** An int result in its narrowest representation (Long unless it overflows). */
  static Object intValue(BigInteger b) {
    return b.bitLength() < 64 ? (Object) b.longValue() : b;
  }

  static long toIndex(Object v) {
    if (!isInteger(v)) {
      throw ChatTemplateException.error("indices must be integers, not " + typeName(v));
    }
    return toBigInteger(v).longValueExact();
  }

  /** Python's {@code len()}: strings count code points, as Python does. */
  static long length(Object v) {
    return switch (v) {
      case null -> throw ChatTemplateException.error("object of type 'NoneType' has no len()");
      case String s -> s.codePointCount(0, s.length());
      case List<?> l -> l.size();
      case Map<?, ?> m -> m.size();
      case Namespace ns -> ns.attributes.size();
      case Undefined u -> 0;
      default -> throw ChatTemplateException.error("object of type '" + typeName(v) + "' has no len()");
    };
  }

  /** What {@code for x in v} visits: list items, dict keys, string characters; Undefined is empty. */
  static List<Object> iterate(Object v) {
    return switch (v) {
      case null -> throw ChatTemplateException.error("'NoneType' object is not iterable");
      case List<?> l -> new ArrayList<>(l);
      case Map<?, ?> m -> new ArrayList<>(m.keySet());
      case String s -> new ArrayList<>(s.codePoints().mapToObj(Character::toString).toList());
      case PyIterator it -> new ArrayList<>(it.items());
      case Undefined u -> new ArrayList<>();
      default -> throw ChatTemplateException.error("'" + typeName(v) + "' object is not iterable");
    };
  }

  static boolean contains(Object container, Object item) {
    return switch (container) {
      case null -> throw ChatTemplateException.error("argument of type 'NoneType' is not iterable");
      case String s -> {
        if (!(item instanceof String needle)) {
          throw ChatTemplateException.error(
              "'in <string>' requires string as left operand, not " + typeName(item));
        }
        yield s.contains(needle);
      }
      case List<?> l -> l.stream().anyMatch(x -> pyEquals(x, item));
      case PyIterator it -> it.items().stream().anyMatch(x -> pyEquals(x, item));
      case Map<?, ?> m -> m.containsKey(item);
      case Undefined u -> false;
      case Namespace ns -> item instanceof String && ns.attributes.containsKey(item);
      default -> throw ChatTemplateException.error(
          "argument of type '" + typeName(container) + "' is not iterable");
    };
  }
}
