package dev.herd.model.chat;

import dev.herd.model.chat.JinjaAst.*;
import dev.herd.model.chat.JinjaLexer.Kind;
import dev.herd.model.chat.JinjaLexer.Token;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Recursive-descent parser with Jinja2's grammar and operator precedence (parser.py): conditional expression, then
 * {@code or}, {@code and}, {@code not}, comparisons (including {@code in} / {@code not in}), {@code + -}, {@code ~},
 * {@code * / // %}, {@code **}, unary minus, then primaries with postfix {@code . [] ()}, filters and {@code is}
 * tests. So {@code not x is defined} is {@code not (x is defined)} and {@code messages|length - 1} is {@code
 * (messages|length) - 1}, exactly as in Python.
 */
final class JinjaParser {
  private static final Set<String> COMPARE_OPS = Set.of("==", "!=", "<", "<=", ">", ">=");

  private final List<Token> tokens;
  private int pos;

  private JinjaParser(List<Token> tokens) {
    this.tokens = tokens;
  }

  static List<Node> parse(String source) {
    JinjaParser parser = new JinjaParser(JinjaLexer.tokenize(source));
    List<Node> body = parser.parseBody(Set.of());
    if (parser.peek().kind() != Kind.EOF) {
      throw parser.syntax("unexpected '" + parser.peekBlockName() + "' tag");
    }
    return body;
  }

  // ---- statements ----

  /** Parses nodes until EOF or a block tag whose name is in {@code enders} (left unconsumed). */
  private List<Node> parseBody(Set<String> enders) {
    List<Node> nodes = new ArrayList<>();
    while (true) {
      Token t = peek();
      switch (t.kind()) {
        case EOF -> {
          if (!enders.isEmpty()) {
            throw syntax("unexpected end of template, expected one of " + enders);
          }
          return nodes;
        }
        case TEXT -> {
          next();
          nodes.add(new Text(t.text()));
        }
        case VAR_BEGIN -> {
          next();
          Expr e = parseTupleOrExpression();
          expect(Kind.VAR_END, "'}}'");
          nodes.add(new Print(e));
        }
        case BLOCK_BEGIN -> {
          String name = peekBlockName();
          if (enders.contains(name)) {
            return nodes;
          }
          next();
          nodes.add(parseStatement());
        }
        default -> throw syntax("unexpected token '" + t.text() + "'");
      }
    }
  }

  /** The tag name of the block starting at the current {@code {%} token. */
  private String peekBlockName() {
    return tokens.get(pos + 1).text();
  }

  private Node parseStatement() {
    Token keyword = expect(Kind.NAME, "a statement name");
    return switch (keyword.text()) {
      case "if" -> parseIf();
      case "for" -> parseFor(keyword.line());
      case "set" -> parseSet(keyword.line());
      case "macro" -> parseMacro();
      case "with" -> parseWith();
      case "call" -> parseCallBlock();
      case "filter" -> parseFilterBlock();
      case "generation" -> {
        expect(Kind.BLOCK_END, "'%}'");
        List<Node> body = parseBody(Set.of("endgeneration"));
        endTag("endgeneration");
        yield new Generation(body);
      }
      case "break" -> {
        expect(Kind.BLOCK_END, "'%}'");
        yield new Break();
      }
      case "continue" -> {
        expect(Kind.BLOCK_END, "'%}'");
        yield new Continue();
      }
      default -> throw syntax("unknown tag '" + keyword.text() + "'");
    };
  }

  private void endTag(String name) {
    expect(Kind.BLOCK_BEGIN, "'{%'");
    Token t = expect(Kind.NAME, "'" + name + "'");
    if (!t.text().equals(name)) {
      throw syntax("expected '" + name + "', got '" + t.text() + "'");
    }
    // Jinja2 allows "{% endmacro name %}"/"{% endblock name %}"; skip an optional trailing name.
    if (peek().kind() == Kind.NAME) {
      next();
    }
    expect(Kind.BLOCK_END, "'%}'");
  }

  private Node parseIf() {
    List<Expr> conditions = new ArrayList<>();
    List<List<Node>> bodies = new ArrayList<>();
    conditions.add(parseTupleOrExpression());
    expect(Kind.BLOCK_END, "'%}'");
    List<Node> elseBody = List.of();
    Set<String> enders = Set.of("elif", "else", "endif");
    while (true) {
      bodies.add(parseBody(enders));
      expect(Kind.BLOCK_BEGIN, "'{%'");
      String tag = expect(Kind.NAME, "elif/else/endif").text();
      if (tag.equals("elif")) {
        conditions.add(parseTupleOrExpression());
        expect(Kind.BLOCK_END, "'%}'");
      } else if (tag.equals("else")) {
        expect(Kind.BLOCK_END, "'%}'");
        elseBody = parseBody(Set.of("endif"));
        endTag("endif");
        break;
      } else {
        expect(Kind.BLOCK_END, "'%}'");
        break;
      }
    }
    return new If(conditions, bodies, elseBody);
  }

  private Node parseFor(int line) {
    Expr target = parseAssignTarget(false);
    expectName("in");
    Expr iterable = parseTuple(false, true);
    Expr filter = null;
    if (peek().isName("if")) {
      next();
      filter = parseExpression(true);
    }
    boolean recursive = false;
    if (peek().isName("recursive")) {
      next();
      recursive = true;
    }
    expect(Kind.BLOCK_END, "'%}'");
    List<Node> body = parseBody(Set.of("else", "endfor"));
    List<Node> elseBody = List.of();
    if (peekBlockName().equals("else")) {
      next();
      next();
      expect(Kind.BLOCK_END, "'%}'");
      elseBody = parseBody(Set.of("endfor"));
    }
    endTag("endfor");
    return new For(target, iterable, filter, body, elseBody, recursive, line);
  }

  private Node parseSet(int line) {
    Expr target = parseAssignTarget(true);
    if (peek().isOp("=")) {
      next();
      Expr value = parseTupleOrExpression();
      expect(Kind.BLOCK_END, "'%}'");
      return new Assign(target, value, line);
    }
    List<FilterCall> filters = new ArrayList<>();
    while (peek().isOp("|")) {
      next();
      filters.add(parseFilterCall());
    }
    expect(Kind.BLOCK_END, "'%}'");
    List<Node> body = parseBody(Set.of("endset"));
    endTag("endset");
    return new AssignBlock(target, body, filters);
  }

  private Node parseWith() {
    List<Expr> targets = new ArrayList<>();
    List<Expr> values = new ArrayList<>();
    while (peek().kind() != Kind.BLOCK_END) {
      if (!targets.isEmpty()) {
        expectOp(",");
      }
      targets.add(parseAssignTarget(false));
      expectOp("=");
      values.add(parseExpression(true));
    }
    expect(Kind.BLOCK_END, "'%}'");
    List<Node> body = parseBody(Set.of("endwith"));
    endTag("endwith");
    return new With(targets, values, body);
  }

  private Node parseMacro() {
    String name = expect(Kind.NAME, "a macro name").text();
    List<String> params = new ArrayList<>();
    List<Expr> defaults = new ArrayList<>();
    parseSignature(params, defaults);
    expect(Kind.BLOCK_END, "'%}'");
    List<Node> body = parseBody(Set.of("endmacro"));
    endTag("endmacro");
    return new Macro(name, params, defaults, body);
  }

  private Node parseCallBlock() {
    List<String> params = new ArrayList<>();
    List<Expr> defaults = new ArrayList<>();
    if (peek().isOp("(")) {
      parseSignature(params, defaults);
    }
    Expr call = parseExpression(true);
    if (!(call instanceof Call)) {
      throw syntax("expected a call in {% call %}");
    }
    expect(Kind.BLOCK_END, "'%}'");
    List<Node> body = parseBody(Set.of("endcall"));
    endTag("endcall");
    return new CallBlock(call, params, defaults, body);
  }

  private void parseSignature(List<String> params, List<Expr> defaults) {
    expectOp("(");
    while (!peek().isOp(")")) {
      if (!params.isEmpty()) {
        expectOp(",");
        if (peek().isOp(")")) {
          break;
        }
      }
      params.add(expect(Kind.NAME, "a parameter name").text());
      if (peek().isOp("=")) {
        next();
        defaults.add(parseExpression(true));
      } else {
        if (!defaults.isEmpty()) {
          throw syntax("non-default argument follows default argument");
        }
      }
    }
    expectOp(")");
  }

  private Node parseFilterBlock() {
    List<FilterCall> filters = new ArrayList<>();
    filters.add(parseFilterCall());
    while (peek().isOp("|")) {
      next();
      filters.add(parseFilterCall());
    }
    expect(Kind.BLOCK_END, "'%}'");
    List<Node> body = parseBody(Set.of("endfilter"));
    endTag("endfilter");
    return new FilterBlock(filters, body);
  }

  /** Assignment targets: a name, {@code ns.attr} (set only), or a tuple of names. */
  private Expr parseAssignTarget(boolean allowAttribute) {
    List<Expr> items = new ArrayList<>();
    boolean tuple = false;
    boolean parenthesized = false;
    if (peek().isOp("(")) {
      next();
      parenthesized = true;
    }
    while (true) {
      Token name = expect(Kind.NAME, "an assignment target");
      Expr target = new Name(name.text(), name.line());
      if (allowAttribute && peek().isOp(".")) {
        next();
        target = new GetAttr(target, expect(Kind.NAME, "an attribute name").text());
      }
      items.add(target);
      if (!peek().isOp(",")) {
        break;
      }
      next();
      tuple = true;
      if (!(peek().kind() == Kind.NAME) || peek().isName("in")) {
        break;
      }
    }
    if (parenthesized) {
      expectOp(")");
      tuple = true;
    }
    return tuple ? new TupleLiteral(items) : items.getFirst();
  }

  // ---- expressions ----

  /** A bare {@code a, b} in {@code {{ }}} or {@code set} is a tuple, as in Jinja2. */
  private Expr parseTupleOrExpression() {
    return parseTuple(true, false);
  }

  private Expr parseTuple(boolean withCondexpr, boolean stopAtIf) {
    List<Expr> items = new ArrayList<>();
    boolean sawComma = false;
    while (true) {
      if (!items.isEmpty()) {
        if (!peek().isOp(",")) {
          break;
        }
        next();
        sawComma = true;
      }
      Token t = peek();
      if (t.kind() == Kind.BLOCK_END || t.kind() == Kind.VAR_END || t.isOp(")") || t.isName("if") && stopAtIf
          || t.isName("recursive")) {
        break;
      }
      items.add(parseExpression(withCondexpr && !stopAtIf));
    }
    if (items.isEmpty()) {
      throw syntax("expected an expression");
    }
    return sawComma ? new TupleLiteral(items) : items.getFirst();
  }

  private Expr parseExpression(boolean withCondexpr) {
    return withCondexpr ? parseConditional() : parseOr();
  }

  private Expr parseConditional() {
    Expr expr = parseOr();
    while (peek().isName("if")) {
      next();
      Expr condition = parseOr();
      Expr otherwise = null;
      if (peek().isName("else")) {
        next();
        otherwise = parseConditional();
      }
      expr = new Conditional(condition, expr, otherwise);
    }
    return expr;
  }

  private Expr parseOr() {
    Expr left = parseAnd();
    while (peek().isName("or")) {
      next();
      left = new Or(left, parseAnd());
    }
    return left;
  }

  private Expr parseAnd() {
    Expr left = parseNot();
    while (peek().isName("and")) {
      next();
      left = new And(left, parseNot());
    }
    return left;
  }

  private Expr parseNot() {
    if (peek().isName("not")) {
      next();
      return new Not(parseNot());
    }
    return parseCompare();
  }

  private Expr parseCompare() {
    int line = peek().line();
    Expr first = parseMath1();
    List<String> ops = new ArrayList<>();
    List<Expr> rest = new ArrayList<>();
    while (true) {
      Token t = peek();
      if (t.kind() == Kind.OPERATOR && COMPARE_OPS.contains(t.text())) {
        next();
        ops.add(t.text());
      } else if (t.isName("in")) {
        next();
        ops.add("in");
      } else if (t.isName("not") && tokens.get(pos + 1).isName("in")) {
        next();
        next();
        ops.add("notin");
      } else {
        break;
      }
      rest.add(parseMath1());
    }
    return ops.isEmpty() ? first : new Compare(first, ops, rest, line);
  }

  private Expr parseMath1() {
    Expr left = parseConcat();
    while (peek().isOp("+") || peek().isOp("-")) {
      Token op = next();
      left = new Binary(op.text(), left, parseConcat(), op.line());
    }
    return left;
  }

  private Expr parseConcat() {
    Expr left = parseMath2();
    while (peek().isOp("~")) {
      Token op = next();
      left = new Binary("~", left, parseMath2(), op.line());
    }
    return left;
  }

  private Expr parseMath2() {
    Expr left = parsePow();
    while (peek().isOp("*") || peek().isOp("/") || peek().isOp("//") || peek().isOp("%")) {
      Token op = next();
      left = new Binary(op.text(), left, parsePow(), op.line());
    }
    return left;
  }

  private Expr parsePow() {
    Expr left = parseUnary(true);
    while (peek().isOp("**")) {
      Token op = next();
      left = new Binary("**", left, parseUnary(true), op.line());
    }
    return left;
  }

  private Expr parseUnary(boolean withFilter) {
    Expr node;
    if (peek().isOp("-")) {
      next();
      node = new Unary("-", parseUnary(false));
    } else if (peek().isOp("+")) {
      next();
      node = new Unary("+", parseUnary(false));
    } else {
      node = parsePostfix(parsePrimary());
    }
    return withFilter ? parseFilterExpr(node) : node;
  }

  private Expr parsePrimary() {
    Token t = next();
    switch (t.kind()) {
      case NAME -> {
        return switch (t.text()) {
          case "true", "True" -> new Const(Boolean.TRUE);
          case "false", "False" -> new Const(Boolean.FALSE);
          case "none", "None" -> new Const(null);
          default -> new Name(t.text(), t.line());
        };
      }
      case STRING -> {
        StringBuilder sb = new StringBuilder(t.text());
        // Adjacent string literals concatenate, as in Python.
        while (peek().kind() == Kind.STRING) {
          sb.append(next().text());
        }
        return new Const(sb.toString());
      }
      case INTEGER, FLOAT -> {
        return new Const(t.value());
      }
      case OPERATOR -> {
        switch (t.text()) {
          case "(" -> {
            if (peek().isOp(")")) {
              next();
              return new TupleLiteral(List.of());
            }
            Expr inner = parseExpression(true);
            if (peek().isOp(",")) {
              List<Expr> items = new ArrayList<>(List.of(inner));
              while (peek().isOp(",")) {
                next();
                if (peek().isOp(")")) {
                  break;
                }
                items.add(parseExpression(true));
              }
              inner = new TupleLiteral(items);
            }
            expectOp(")");
            return inner;
          }
          case "[" -> {
            List<Expr> items = new ArrayList<>();
            while (!peek().isOp("]")) {
              if (!items.isEmpty()) {
                expectOp(",");
                if (peek().isOp("]")) {
                  break;
                }
              }
              items.add(parseExpression(true));
            }
            expectOp("]");
            return new ListLiteral(items);
          }
          case "{" -> {
            List<Expr> keys = new ArrayList<>();
            List<Expr> values = new ArrayList<>();
            while (!peek().isOp("}")) {
              if (!keys.isEmpty()) {
                expectOp(",");
                if (peek().isOp("}")) {
                  break;
                }
              }
              keys.add(parseExpression(true));
              expectOp(":");
              values.add(parseExpression(true));
            }
            expectOp("}");
            return new DictLiteral(keys, values);
          }
          default -> throw syntax("unexpected '" + t.text() + "'");
        }
      }
      default -> throw syntax("unexpected " + describe(t));
    }
  }

  private Expr parsePostfix(Expr node) {
    while (true) {
      Token t = peek();
      if (t.isOp(".")) {
        next();
        Token attr = next();
        if (attr.kind() == Kind.NAME) {
          node = new GetAttr(node, attr.text());
        } else if (attr.kind() == Kind.INTEGER) {
          node = new GetItem(node, new Const(attr.value()));
        } else {
          throw syntax("expected an attribute name after '.'");
        }
      } else if (t.isOp("[")) {
        next();
        node = parseSubscript(node);
      } else if (t.isOp("(")) {
        node = parseCall(node);
      } else {
        return node;
      }
    }
  }

  private Expr parseSubscript(Expr target) {
    Expr start = null;
    Expr stop = null;
    Expr step = null;
    boolean slice = false;
    if (!peek().isOp(":")) {
      start = parseExpression(true);
    }
    if (peek().isOp(":")) {
      slice = true;
      next();
      if (!peek().isOp("]") && !peek().isOp(":")) {
        stop = parseExpression(true);
      }
      if (peek().isOp(":")) {
        next();
        if (!peek().isOp("]")) {
          step = parseExpression(true);
        }
      }
    } else if (peek().isOp(",")) {
      List<Expr> items = new ArrayList<>(List.of(start));
      while (peek().isOp(",")) {
        next();
        items.add(parseExpression(true));
      }
      start = new TupleLiteral(items);
    }
    expectOp("]");
    return slice ? new Slice(target, start, stop, step) : new GetItem(target, start);
  }

  private Call parseCall(Expr callee) {
    int line = expectOp("(").line();
    List<Expr> args = new ArrayList<>();
    List<String> kwNames = new ArrayList<>();
    List<Expr> kwValues = new ArrayList<>();
    parseArguments(args, kwNames, kwValues);
    return new Call(callee, args, kwNames, kwValues, line);
  }

  /** After '(' : positional and keyword arguments up to and including ')'. */
  private void parseArguments(List<Expr> args, List<String> kwNames, List<Expr> kwValues) {
    boolean first = true;
    while (!peek().isOp(")")) {
      if (!first) {
        expectOp(",");
        if (peek().isOp(")")) {
          break;
        }
      }
      first = false;
      if (peek().kind() == Kind.NAME && tokens.get(pos + 1).isOp("=")) {
        kwNames.add(next().text());
        next();
        kwValues.add(parseExpression(true));
      } else {
        if (!kwNames.isEmpty()) {
          throw syntax("positional argument follows keyword argument");
        }
        args.add(parseExpression(true));
      }
    }
    expectOp(")");
  }

  private Expr parseFilterExpr(Expr node) {
    while (true) {
      Token t = peek();
      if (t.isOp("|")) {
        next();
        node = new Filter(node, parseFilterCall());
      } else if (t.isName("is")) {
        next();
        node = parseTest(node, t.line());
      } else if (t.isOp("(")) {
        node = parseCall(node);
      } else {
        return node;
      }
    }
  }

  private FilterCall parseFilterCall() {
    Token name = expect(Kind.NAME, "a filter name");
    String filterName = name.text();
    while (peek().isOp(".")) {
      next();
      filterName += "." + expect(Kind.NAME, "a filter name").text();
    }
    List<Expr> args = new ArrayList<>();
    List<String> kwNames = new ArrayList<>();
    List<Expr> kwValues = new ArrayList<>();
    if (peek().isOp("(")) {
      next();
      parseArguments(args, kwNames, kwValues);
    }
    return new FilterCall(filterName, args, kwNames, kwValues, name.line());
  }

  private Expr parseTest(Expr node, int line) {
    boolean negated = false;
    if (peek().isName("not")) {
      next();
      negated = true;
    }
    Token name = expect(Kind.NAME, "a test name");
    String testName = name.text();
    List<Expr> args = new ArrayList<>();
    Token t = peek();
    if (t.isOp("(")) {
      next();
      List<String> kwNames = new ArrayList<>();
      parseArguments(args, kwNames, new ArrayList<>());
    } else if ((t.kind() == Kind.NAME && !Set.of("else", "or", "and", "if", "is", "in", "not").contains(t.text()))
        || t.kind() == Kind.STRING || t.kind() == Kind.INTEGER || t.kind() == Kind.FLOAT || t.isOp("[")
        || t.isOp("{") || t.isOp("(")) {
      // "x is divisibleby 3", "role is equalto 'user'": one argument without parentheses.
      args.add(parsePostfix(parsePrimary()));
    }
    return new Test(node, testName, args, negated, line);
  }

  // ---- token helpers ----

  private Token peek() {
    return tokens.get(pos);
  }

  private Token next() {
    return tokens.get(pos++);
  }

  private Token expect(Kind kind, String what) {
    Token t = next();
    if (t.kind() != kind) {
      pos--;
      throw syntax("expected " + what + ", got " + describe(t));
    }
    return t;
  }

  private void expectName(String name) {
    Token t = next();
    if (!t.isName(name)) {
      pos--;
      throw syntax("expected '" + name + "', got " + describe(t));
    }
  }

  private Token expectOp(String op) {
    Token t = next();
    if (!t.isOp(op)) {
      pos--;
      throw syntax("expected '" + op + "', got " + describe(t));
    }
    return t;
  }

  private static String describe(Token t) {
    return switch (t.kind()) {
      case EOF -> "end of template";
      case BLOCK_END -> "'%}'";
      case VAR_END -> "'}}'";
      case BLOCK_BEGIN -> "'{%'";
      case VAR_BEGIN -> "'{{'";
      case TEXT -> "text";
      default -> "'" + t.text() + "'";
    };
  }

  private ChatTemplateException syntax(String message) {
    return ChatTemplateException.error("template syntax error at line " + peek().line() + ": " + message);
  }
}
