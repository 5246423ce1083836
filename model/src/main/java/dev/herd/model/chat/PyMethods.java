package dev.herd.model.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Methods of Python's built-in types that templates call ({@code content.strip()}, {@code tool.items()}, {@code
 * message.get('name')}). Mutating methods exist but fail, as in transformers' {@code ImmutableSandboxedEnvironment}.
 */
final class PyMethods {
  private PyMethods() {}

  private static final Set<String> UNSAFE_LIST =
      Set.of("append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear");
  private static final Set<String> UNSAFE_DICT = Set.of("clear", "pop", "popitem", "setdefault", "update");

  /** The bound method {@code name} of {@code base}, or null when the type has no such attribute. */
  static PyCallable method(Object base, String name) {
    return switch (base) {
      case String s -> stringMethod(s, name);
      case Map<?, ?> m -> dictMethod(m, name);
      case List<?> l -> listMethod(l, name);
      case null, default -> null;
    };
  }

  private static PyCallable unsafe(Object base, String name) {
    return (args, kwargs) -> {
      throw ChatTemplateException.error(
          "access to attribute '" + name + "' of '" + PyValues.typeName(base) + "' object is unsafe.");
    };
  }

  private static PyCallable listMethod(List<?> list, String name) {
    if (UNSAFE_LIST.contains(name)) {
      return unsafe(list, name);
    }
    return switch (name) {
      case "index" -> (args, kw) -> {
        for (int i = 0; i < list.size(); i++) {
          if (PyValues.pyEquals(list.get(i), arg(args, kw, 0, "value", null))) {
            return (long) i;
          }
        }
        throw ChatTemplateException.error("value is not in list");
      };
      case "count" -> (args, kw) ->
          list.stream().filter(x -> PyValues.pyEquals(x, arg(args, kw, 0, "value", null))).count();
      case "copy" -> (args, kw) -> new ArrayList<>(list);
      default -> null;
    };
  }

  private static PyCallable dictMethod(Map<?, ?> map, String name) {
    if (UNSAFE_DICT.contains(name)) {
      return unsafe(map, name);
    }
    return switch (name) {
      case "items" -> (args, kw) -> {
        List<Object> out = new ArrayList<>();
        map.forEach((k, v) -> out.add(pair(k, v)));
        return out;
      };
      case "keys" -> (args, kw) -> new ArrayList<Object>(map.keySet());
      case "values" -> (args, kw) -> new ArrayList<Object>(map.values());
      case "get" -> (args, kw) -> {
        Object key = arg(args, kw, 0, "key", null);
        return map.containsKey(key) ? map.get(key) : arg(args, kw, 1, "default", null);
      };
      case "copy" -> (args, kw) -> new java.util.LinkedHashMap<>(map);
      default -> null;
    };
  }

  /** A Python 2-tuple; an ArrayList because values may be None (null). */
  static List<Object> pair(Object a, Object b) {
    List<Object> pair = new ArrayList<>(2);
    pair.add(a);
    pair.add(b);
    return pair;
  }

  private static PyCallable stringMethod(String s, String name) {
    return switch (name) {
      case "strip" -> (args, kw) -> PyStrings.strip(s, chars(args, kw));
      case "lstrip" -> (args, kw) -> PyStrings.lstrip(s, chars(args, kw));
      case "rstrip" -> (args, kw) -> PyStrings.rstrip(s, chars(args, kw));
      case "split" -> (args, kw) -> PyStrings.split(s, optString(arg(args, kw, 0, "sep", null)),
          PyValues.toIndex(arg(args, kw, 1, "maxsplit", -1L)));
      case "rsplit" -> (args, kw) -> PyStrings.rsplit(s, optString(arg(args, kw, 0, "sep", null)),
          PyValues.toIndex(arg(args, kw, 1, "maxsplit", -1L)));
      case "splitlines" -> (args, kw) -> PyStrings.splitlines(s, PyValues.truthy(arg(args, kw, 0, "keepends", false)));
      case "startswith" -> (args, kw) -> PyStrings.startsWith(s, arg(args, kw, 0, "prefix", null));
      case "endswith" -> (args, kw) -> PyStrings.endsWith(s, arg(args, kw, 0, "suffix", null));
      case "replace" -> (args, kw) -> PyStrings.replace(s, str(arg(args, kw, 0, "old", null), name),
          str(arg(args, kw, 1, "new", null), name), PyValues.toIndex(arg(args, kw, 2, "count", -1L)));
      case "upper" -> (args, kw) -> PyStrings.upper(s);
      case "lower" -> (args, kw) -> PyStrings.lower(s);
      case "title" -> (args, kw) -> PyStrings.title(s);
      case "capitalize" -> (args, kw) -> PyStrings.capitalize(s);
      case "find" -> (args, kw) -> PyStrings.find(s, str(arg(args, kw, 0, "sub", null), name), false);
      case "rfind" -> (args, kw) -> PyStrings.find(s, str(arg(args, kw, 0, "sub", null), name), true);
      case "index", "rindex" -> (args, kw) -> {
        long at = PyStrings.find(s, str(arg(args, kw, 0, "sub", null), name), name.equals("rindex"));
        if (at < 0) {
          throw ChatTemplateException.error("substring not found");
        }
        return at;
      };
      case "count" -> (args, kw) -> PyStrings.count(s, str(arg(args, kw, 0, "sub", null), name));
      case "join" -> (args, kw) -> {
        StringBuilder sb = new StringBuilder();
        List<Object> items = PyValues.iterate(arg(args, kw, 0, "iterable", null));
        for (int i = 0; i < items.size(); i++) {
          sb.append(i == 0 ? "" : s).append(str(items.get(i), "join"));
        }
        return sb.toString();
      };
      case "isdigit", "isnumeric", "isdecimal" -> (args, kw) -> PyStrings.all(s, Character::isDigit);
      case "isalpha" -> (args, kw) -> PyStrings.all(s, Character::isLetter);
      case "isalnum" -> (args, kw) -> PyStrings.all(s, Character::isLetterOrDigit);
      case "isspace" -> (args, kw) -> PyStrings.all(s, PyStrings::isSpace);
      case "isupper" -> (args, kw) -> s.codePoints().anyMatch(Character::isUpperCase)
          && s.codePoints().noneMatch(Character::isLowerCase);
      case "islower" -> (args, kw) -> s.codePoints().anyMatch(Character::isLowerCase)
          && s.codePoints().noneMatch(Character::isUpperCase);
      case "format" -> (args, kw) -> format(s, args, kw);
      default -> null;
    };
  }

  /** {@code str.format} with automatic and numbered {@code {}} fields and {@code {name}} keywords. */
  private static String format(String s, List<Object> args, Map<String, Object> kw) {
    StringBuilder sb = new StringBuilder();
    int auto = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
        sb.append('{');
        i++;
      } else if (c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
        sb.append('}');
        i++;
      } else if (c == '{') {
        int end = s.indexOf('}', i);
        if (end < 0) {
          throw ChatTemplateException.error("Single '{' encountered in format string");
        }
        String field = s.substring(i + 1, end);
        Object value;
        if (field.isEmpty()) {
          value = args.get(auto++);
        } else if (field.chars().allMatch(Character::isDigit)) {
          value = args.get(Integer.parseInt(field));
        } else if (kw.containsKey(field)) {
          value = kw.get(field);
        } else {
          throw ChatTemplateException.error("KeyError: '" + field + "'");
        }
        sb.append(PyValues.str(value));
        i = end;
      } else {
        sb.append(c);
      }
    }
    return sb.toString();
  }

  private static String chars(List<Object> args, Map<String, Object> kw) {
    return optString(arg(args, kw, 0, "chars", null));
  }

  private static String optString(Object v) {
    return v == null ? null : str(v, "argument");
  }

  private static String str(Object v, String what) {
    return PyStrings.requireString(v, what);
  }

  /** Positional argument {@code i}, else keyword {@code name}, else {@code fallback}. */
  static Object arg(List<Object> args, Map<String, Object> kw, int i, String name, Object fallback) {
    if (i < args.size()) {
      return args.get(i);
    }
    return kw.containsKey(name) ? kw.get(name) : fallback;
  }
}
