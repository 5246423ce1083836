package dev.herd.model.chat;

import dev.herd.model.chat.JinjaAst.*;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Evaluates a parsed template with Jinja2's semantics as transformers configures it (sandboxed, immutable, default
 * {@code Undefined}): {@code for} bodies get their own scope per iteration (so only a {@code namespace} carries
 * values out of a loop), {@code if} does not, attribute access tries the attribute then the item and subscripts the
 * other way round, and Python's operators and types decide every result.
 */
final class JinjaInterpreter {
  /** A scope: the template's top level, one iteration of a loop body, or one macro call. */
  static final class Frame {
    final Frame parent;
    final Map<String, Object> vars = new HashMap<>();

    Frame(Frame parent) {
      this.parent = parent;
    }

    Object lookup(String name) {
      for (Frame f = this; f != null; f = f.parent) {
        if (f.vars.containsKey(name)) {
          return f.vars.get(name);
        }
      }
      return new Undefined("'" + name + "' is undefined");
    }
  }

  private static final class LoopControl extends RuntimeException {
    final boolean isBreak;

    LoopControl(boolean isBreak) {
      super(null, null, false, false);
      this.isBreak = isBreak;
    }
  }

  private static final LoopControl BREAK = new LoopControl(true);
  private static final LoopControl CONTINUE = new LoopControl(false);
  private static final int MAX_DEPTH = 200;

  private int depth;

  void exec(List<Node> nodes, Frame frame, StringBuilder out) {
    for (Node node : nodes) {
      exec(node, frame, out);
    }
  }

  private void exec(Node node, Frame frame, StringBuilder out) {
    switch (node) {
      case Text t -> out.append(t.text());
      case Print p -> out.append(PyValues.str(eval(p.value(), frame)));
      case If i -> {
        for (int k = 0; k < i.conditions().size(); k++) {
          if (PyValues.truthy(eval(i.conditions().get(k), frame))) {
            exec(i.bodies().get(k), frame, out);
            return;
          }
        }
        exec(i.elseBody(), frame, out);
      }
      case For f -> execFor(f, frame, out, 0);
      case Assign s -> assign(s.target(), eval(s.value(), frame), frame);
      case AssignBlock s -> {
        StringBuilder body = new StringBuilder();
        exec(s.body(), new Frame(frame), body);
        Object value = body.toString();
        for (FilterCall f : s.filters()) {
          value = JinjaFilters.apply(this, f, value, frame);
        }
        assign(s.target(), value, frame);
      }
      case With w -> {
        List<Object> values = new ArrayList<>();
        for (Expr v : w.values()) {
          values.add(eval(v, frame));
        }
        Frame inner = new Frame(frame);
        for (int i = 0; i < values.size(); i++) {
          assign(w.targets().get(i), values.get(i), inner);
        }
        exec(w.body(), inner, out);
      }
      case Macro m -> frame.vars.put(m.name(), macro(m.params(), m.defaults(), m.body(), frame));
      case CallBlock c -> {
        PyCallable caller = macro(c.params(), c.defaults(), c.body(), frame);
        Call call = (Call) c.call();
        Object callee = eval(call.callee(), frame);
        List<Object> args = new ArrayList<>();
        for (Expr a : call.args()) {
          args.add(eval(a, frame));
        }
        Map<String, Object> kwargs = new LinkedHashMap<>();
        for (int k = 0; k < call.kwNames().size(); k++) {
          kwargs.put(call.kwNames().get(k), eval(call.kwValues().get(k), frame));
        }
        kwargs.put("caller", caller);
        out.append(PyValues.str(invoke(callee, args, kwargs)));
      }
      case FilterBlock fb -> {
        StringBuilder body = new StringBuilder();
        exec(fb.body(), frame, body);
        Object value = body.toString();
        for (FilterCall f : fb.filters()) {
          value = JinjaFilters.apply(this, f, value, frame);
        }
        out.append(PyValues.str(value));
      }
      case Generation g -> exec(g.body(), frame, out);
      case Break b -> throw BREAK;
      case Continue c -> throw CONTINUE;
    }
  }

  private void execFor(For f, Frame frame, StringBuilder out, int loopDepth) {
    List<Object> items = PyValues.iterate(eval(f.iterable(), frame));
    if (f.filter() != null) {
      // "for x in xs if cond": filtered before the loop starts, so loop.index/length count kept items only.
      List<Object> kept = new ArrayList<>();
      for (Object item : items) {
        Frame test = new Frame(frame);
        assign(f.target(), item, test);
        if (PyValues.truthy(eval(f.filter(), test))) {
          kept.add(item);
        }
      }
      items = kept;
    }
    if (items.isEmpty()) {
      exec(f.elseBody(), frame, out);
      return;
    }
    LoopContext loop = new LoopContext(items, loopDepth);
    for (int i = 0; i < items.size(); i++) {
      loop.index0 = i;
      Frame body = new Frame(frame);
      body.vars.put("loop", loop);
      assign(f.target(), items.get(i), body);
      try {
        exec(f.body(), body, out);
      } catch (LoopControl control) {
        if (control.isBreak) {
          break;
        }
      }
    }
  }

  private void assign(Expr target, Object value, Frame frame) {
    switch (target) {
      case Name n -> frame.vars.put(n.name(), value);
      case GetAttr ga -> {
        Object owner = eval(ga.target(), frame);
        if (!(owner instanceof Namespace ns)) {
          throw ChatTemplateException.error("cannot assign attribute on non-namespace object");
        }
        ns.attributes.put(ga.name(), value);
      }
      case TupleLiteral t -> {
        List<Object> values = PyValues.iterate(value);
        if (values.size() != t.items().size()) {
          throw ChatTemplateException.error("cannot unpack " + values.size() + " values into "
              + t.items().size() + " names");
        }
        for (int i = 0; i < values.size(); i++) {
          assign(t.items().get(i), values.get(i), frame);
        }
      }
      default -> throw ChatTemplateException.error("cannot assign to this expression");
    }
  }

  /** A macro closes over the scope it was defined in; defaults are evaluated at each call, as in Jinja2. */
  private PyCallable macro(List<String> params, List<Expr> defaults, List<Node> body, Frame defining) {
    return (args, kwargs) -> {
      Frame frame = new Frame(defining);
      Map<String, Object> extra = new LinkedHashMap<>(kwargs);
      int firstDefault = params.size() - defaults.size();
      for (int i = 0; i < params.size(); i++) {
        String p = params.get(i);
        Object value;
        if (i < args.size()) {
          value = args.get(i);
        } else if (extra.containsKey(p)) {
          value = extra.remove(p);
        } else if (i >= firstDefault) {
          value = eval(defaults.get(i - firstDefault), frame);
        } else {
          value = new Undefined("parameter '" + p + "' was not provided");
        }
        frame.vars.put(p, value);
      }
      frame.vars.put("varargs", args.size() > params.size()
          ? new ArrayList<>(args.subList(params.size(), args.size())) : new ArrayList<>());
      if (extra.containsKey("caller")) {
        frame.vars.put("caller", extra.remove("caller"));
      }
      frame.vars.put("kwargs", new LinkedHashMap<>(extra));
      StringBuilder sb = new StringBuilder();
      enter();
      try {
        exec(body, frame, sb);
      } finally {
        depth--;
      }
      return sb.toString();
    };
  }

  private void enter() {
    if (++depth > MAX_DEPTH) {
      throw ChatTemplateException.error("maximum recursion depth exceeded in template");
    }
  }

  // ---- expressions ----

  Object eval(Expr expr, Frame frame) {
    return switch (expr) {
      case Const c -> c.value();
      case Name n -> frame.lookup(n.name());
      case GetAttr ga -> getattr(eval(ga.target(), frame), ga.name());
      case GetItem gi -> getitem(eval(gi.target(), frame), eval(gi.key(), frame));
      case Slice s -> slice(eval(s.target(), frame), optional(s.start(), frame), optional(s.stop(), frame),
          optional(s.step(), frame));
      case Call c -> {
        Object callee = eval(c.callee(), frame);
        List<Object> args = new ArrayList<>();
        for (Expr a : c.args()) {
          args.add(eval(a, frame));
        }
        Map<String, Object> kwargs = new LinkedHashMap<>();
        for (int i = 0; i < c.kwNames().size(); i++) {
          kwargs.put(c.kwNames().get(i), eval(c.kwValues().get(i), frame));
        }
        yield invoke(callee, args, kwargs);
      }
      case Filter f -> JinjaFilters.apply(this, f.filter(), eval(f.value(), frame), frame);
      case Test t -> {
        List<Object> args = new ArrayList<>();
        for (Expr a : t.args()) {
          args.add(eval(a, frame));
        }
        boolean result = JinjaFilters.test(this, t.name(), eval(t.value(), frame), args);
        yield t.negated() != result;
      }
      case Unary u -> {
        Object v = eval(u.operand(), frame);
        if (v instanceof Undefined und) {
          throw und.fail();
        }
        if (!PyValues.isNumber(v)) {
          throw ChatTemplateException.error("bad operand type for unary " + u.op() + ": '" + PyValues.typeName(v)
              + "'");
        }
        if (u.op().equals("+")) {
          yield v instanceof Boolean ? (Object) (((Boolean) v) ? 1L : 0L) : v;
        }
        yield v instanceof Double d ? (Object) (-d) : PyValues.intValue(PyValues.toBigInteger(v).negate());
      }
      case Binary b -> binary(b.op(), eval(b.left(), frame), eval(b.right(), frame));
      case And a -> {
        Object left = eval(a.left(), frame);
        yield PyValues.truthy(left) ? eval(a.right(), frame) : left;
      }
      case Or o -> {
        Object left = eval(o.left(), frame);
        yield PyValues.truthy(left) ? left : eval(o.right(), frame);
      }
      case Not n -> !PyValues.truthy(eval(n.operand(), frame));
      case Compare c -> {
        Object left = eval(c.first(), frame);
        for (int i = 0; i < c.ops().size(); i++) {
          Object right = eval(c.rest().get(i), frame);
          if (!compare(c.ops().get(i), left, right)) {
            yield false;
          }
          left = right;
        }
        yield true;
      }
      case Conditional c -> PyValues.truthy(eval(c.condition(), frame))
          ? eval(c.then(), frame)
          : c.otherwise() == null ? new Undefined("the inline if-expression evaluated to false and no else section was defined") : eval(c.otherwise(), frame);
      case ListLiteral l -> {
        List<Object> out = new ArrayList<>();
        for (Expr e : l.items()) {
          out.add(eval(e, frame));
        }
        yield out;
      }
      case TupleLiteral t -> {
        List<Object> out = new ArrayList<>();
        for (Expr e : t.items()) {
          out.add(eval(e, frame));
        }
        yield out;
      }
      case DictLiteral d -> {
        // Keys keep their type: templates build lookup tables such as {0: 0, 512: 128}.
        Map<Object, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < d.keys().size(); i++) {
          Object key = eval(d.keys().get(i), frame);
          if (key instanceof List<?> || key instanceof Map<?, ?> || key instanceof Undefined) {
            throw ChatTemplateException.error("unhashable type: '" + PyValues.typeName(key) + "'");
          }
          out.put(key, eval(d.values().get(i), frame));
        }
        yield out;
      }
    };
  }

  private Object optional(Expr e, Frame frame) {
    return e == null ? null : eval(e, frame);
  }

  Object invoke(Object callee, List<Object> args, Map<String, Object> kwargs) {
    if (callee instanceof PyCallable c) {
      return c.call(args, kwargs);
    }
    if (callee instanceof Undefined u) {
      throw u.fail();
    }
    throw ChatTemplateException.error("'" + PyValues.typeName(callee) + "' object is not callable");
  }

  /** {@code obj.name}: Jinja2 tries the attribute first, then the item ({@code dict.items} is the method). */
  static Object getattr(Object obj, String name) {
    if (obj instanceof Undefined u) {
      throw u.fail();
    }
    if (name.startsWith("_")) {
      return missing(obj, name);
    }
    PyCallable method = PyMethods.method(obj, name);
    if (method != null) {
      return method;
    }
    return switch (obj) {
      case Map<?, ?> m -> m.containsKey(name) ? m.get(name) : missing(obj, name);
      case Namespace ns -> ns.attributes.containsKey(name) ? ns.attributes.get(name) : missing(obj, name);
      case LoopContext loop -> loop.attribute(name);
      case null, default -> missing(obj, name);
    };
  }

  private static Undefined missing(Object obj, String name) {
    return new Undefined("'" + PyValues.typeName(obj) + " object' has no attribute '" + name + "'");
  }

  /** {@code obj[key]}: Jinja2 tries the item first, then (for string keys) the attribute. */
  static Object getitem(Object obj, Object key) {
    if (obj instanceof Undefined u) {
      throw u.fail();
    }
    switch (obj) {
      case Map<?, ?> m -> {
        if (m.containsKey(key)) {
          return m.get(key);
        }
      }
      case List<?> l when PyValues.isInteger(key) -> {
        long i = PyValues.toIndex(key);
        if (i < 0) {
          i += l.size();
        }
        return i >= 0 && i < l.size() ? l.get((int) i) : new Undefined("list object has no element " + key);
      }
      case String s when PyValues.isInteger(key) -> {
        int[] cps = s.codePoints().toArray();
        long i = PyValues.toIndex(key);
        if (i < 0) {
          i += cps.length;
        }
        return i >= 0 && i < cps.length ? Character.toString(cps[(int) i])
            : new Undefined("str object has no element " + key);
      }
      case Namespace ns -> {
        if (ns.attributes.containsKey(key)) {
          return ns.attributes.get(key);
        }
      }
      case null, default -> { }
    }
    if (key instanceof String name) {
      return getattr(obj, name);
    }
    return new Undefined("'" + PyValues.typeName(obj) + " object' has no attribute " + PyValues.repr(key));
  }

  /** Python slicing {@code obj[start:stop:step]} on lists and strings (strings by code point). */
  static Object slice(Object obj, Object start, Object stop, Object step) {
    if (obj instanceof Undefined u) {
      throw u.fail();
    }
    int length;
    if (obj instanceof List<?> l) {
      length = l.size();
    } else if (obj instanceof String s) {
      length = s.codePointCount(0, s.length());
    } else {
      throw ChatTemplateException.error("'" + PyValues.typeName(obj) + "' object is not subscriptable");
    }
    long st = step == null ? 1 : PyValues.toIndex(step);
    if (st == 0) {
      throw ChatTemplateException.error("slice step cannot be zero");
    }
    long lo;
    long hi;
    if (st > 0) {
      lo = start == null ? 0 : clamp(PyValues.toIndex(start), length, 0, length);
      hi = stop == null ? length : clamp(PyValues.toIndex(stop), length, 0, length);
    } else {
      lo = start == null ? length - 1 : clamp(PyValues.toIndex(start), length, -1, length - 1);
      hi = stop == null ? -1 : clamp(PyValues.toIndex(stop), length, -1, length - 1);
    }
    List<Integer> indices = new ArrayList<>();
    for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
      indices.add((int) i);
    }
    if (obj instanceof String s) {
      return PyStrings.slice(s, indices);
    }
    List<?> l = (List<?>) obj;
    List<Object> out = new ArrayList<>();
    for (int i : indices) {
      out.add(l.get(i));
    }
    return out;
  }

  private static long clamp(long index, int length, long min, long max) {
    if (index < 0) {
      index += length;
    }
    return Math.max(min, Math.min(max, index));
  }

  boolean compare(String op, Object a, Object b) {
    return switch (op) {
      case "==" -> PyValues.pyEquals(a, b);
      case "!=" -> !PyValues.pyEquals(a, b);
      case "in" -> PyValues.contains(b, a);
      case "notin" -> !PyValues.contains(b, a);
      default -> {
        if (a instanceof Undefined u) {
          throw u.fail();
        }
        if (b instanceof Undefined u) {
          throw u.fail();
        }
        int c = PyValues.compare(a, b, op);
        yield switch (op) {
          case "<" -> c < 0;
          case "<=" -> c <= 0;
          case ">" -> c > 0;
          default -> c >= 0;
        };
      }
    };
  }

  static Object binary(String op, Object a, Object b) {
    if (op.equals("~")) {
      return PyValues.str(a) + PyValues.str(b);
    }
    if (a instanceof Undefined u) {
      throw u.fail();
    }
    if (b instanceof Undefined u) {
      throw u.fail();
    }
    boolean numbers = PyValues.isNumber(a) && PyValues.isNumber(b);
    boolean floats = numbers && (a instanceof Double || b instanceof Double);
    switch (op) {
      case "+" -> {
        if (numbers) {
          return floats ? (Object) (PyValues.toDouble(a) + PyValues.toDouble(b))
              : PyValues.intValue(PyValues.toBigInteger(a).add(PyValues.toBigInteger(b)));
        }
        if (a instanceof String sa && b instanceof String sb) {
          return sa + sb;
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
          List<Object> out = new ArrayList<>(la);
          out.addAll(lb);
          return out;
        }
        if (a instanceof String) {
          throw ChatTemplateException.error(
              "can only concatenate str (not \"" + PyValues.typeName(b) + "\") to str");
        }
        if (a instanceof List<?>) {
          throw ChatTemplateException.error(
              "can only concatenate list (not \"" + PyValues.typeName(b) + "\") to list");
        }
      }
      case "-" -> {
        if (numbers) {
          return floats ? (Object) (PyValues.toDouble(a) - PyValues.toDouble(b))
              : PyValues.intValue(PyValues.toBigInteger(a).subtract(PyValues.toBigInteger(b)));
        }
      }
      case "*" -> {
        if (numbers) {
          return floats ? (Object) (PyValues.toDouble(a) * PyValues.toDouble(b))
              : PyValues.intValue(PyValues.toBigInteger(a).multiply(PyValues.toBigInteger(b)));
        }
        if (a instanceof String s && PyValues.isInteger(b)) {
          return s.repeat((int) Math.max(0, PyValues.toIndex(b)));
        }
        if (b instanceof String s && PyValues.isInteger(a)) {
          return s.repeat((int) Math.max(0, PyValues.toIndex(a)));
        }
        if (a instanceof List<?> l && PyValues.isInteger(b)) {
          List<Object> out = new ArrayList<>();
          for (long i = 0; i < PyValues.toIndex(b); i++) {
            out.addAll(l);
          }
          return out;
        }
      }
      case "/" -> {
        if (numbers) {
          double divisor = PyValues.toDouble(b);
          if (divisor == 0) {
            throw ChatTemplateException.error("division by zero");
          }
          return PyValues.toDouble(a) / divisor;
        }
      }
      case "//" -> {
        if (numbers) {
          if (floats) {
            double divisor = PyValues.toDouble(b);
            if (divisor == 0) {
              throw ChatTemplateException.error("float floor division by zero");
            }
            return Math.floor(PyValues.toDouble(a) / divisor);
          }
          BigInteger divisor = PyValues.toBigInteger(b);
          if (divisor.signum() == 0) {
            throw ChatTemplateException.error("integer division or modulo by zero");
          }
          BigInteger[] qr = PyValues.toBigInteger(a).divideAndRemainder(divisor);
          BigInteger q = qr[0];
          if (qr[1].signum() != 0 && qr[1].signum() != divisor.signum()) {
            q = q.subtract(BigInteger.ONE);
          }
          return PyValues.intValue(q);
        }
      }
      case "%" -> {
        if (numbers) {
          if (floats) {
            double x = PyValues.toDouble(a);
            double y = PyValues.toDouble(b);
            if (y == 0) {
              throw ChatTemplateException.error("float modulo");
            }
            double r = x % y;
            return r != 0 && (r < 0) != (y < 0) ? r + y : r;
          }
          BigInteger divisor = PyValues.toBigInteger(b);
          if (divisor.signum() == 0) {
            throw ChatTemplateException.error("integer division or modulo by zero");
          }
          BigInteger r = PyValues.toBigInteger(a).mod(divisor.abs());
          if (divisor.signum() < 0 && r.signum() != 0) {
            r = r.add(divisor);
          }
          return PyValues.intValue(r);
        }
        if (a instanceof String format) {
          List<Object> values = new ArrayList<>();
          if (b instanceof List<?> l) {
            values.addAll(l);
          } else {
            values.add(b);
          }
          return JinjaFilters.printf(format, values);
        }
      }
      case "**" -> {
        if (numbers) {
          if (!floats && PyValues.toBigInteger(b).signum() >= 0) {
            return PyValues.intValue(PyValues.toBigInteger(a).pow(PyValues.toBigInteger(b).intValueExact()));
          }
          return Math.pow(PyValues.toDouble(a), PyValues.toDouble(b));
        }
      }
      default -> { }
    }
    throw ChatTemplateException.error("unsupported operand type(s) for " + op + ": '" + PyValues.typeName(a)
        + "' and '" + PyValues.typeName(b) + "'");
  }
}
