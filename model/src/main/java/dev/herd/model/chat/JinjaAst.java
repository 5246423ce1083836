package dev.herd.model.chat;

import java.util.List;

/** The parsed template: statements ({@link Node}) and expressions ({@link Expr}), as Jinja2's parser builds them. */
final class JinjaAst {
  private JinjaAst() {}

  sealed interface Node {}

  record Text(String text) implements Node {}

  record Print(Expr value) implements Node {}

  record If(List<Expr> conditions, List<List<Node>> bodies, List<Node> elseBody) implements Node {}

  record For(Expr target, Expr iterable, Expr filter, List<Node> body, List<Node> elseBody, boolean recursive,
      int line) implements Node {}

  /** {@code {% set target = value %}}; target is a Name, a Tuple of names or a namespace attribute. */
  record Assign(Expr target, Expr value, int line) implements Node {}

  record AssignBlock(Expr target, List<Node> body, List<FilterCall> filters) implements Node {}

  /** {@code {% with a = x, b = y %}}: values evaluated outside, bound in a new scope for the body. */
  record With(List<Expr> targets, List<Expr> values, List<Node> body) implements Node {}

  record Macro(String name, List<String> params, List<Expr> defaults, List<Node> body) implements Node {}

  record CallBlock(Expr call, List<String> params, List<Expr> defaults, List<Node> body) implements Node {}

  record FilterBlock(List<FilterCall> filters, List<Node> body) implements Node {}

  /** transformers' {@code {% generation %}} tag: marks assistant text for masks; renders its body unchanged. */
  record Generation(List<Node> body) implements Node {}

  record Break() implements Node {}

  record Continue() implements Node {}

  sealed interface Expr {}

  record Const(Object value) implements Expr {}

  record Name(String name, int line) implements Expr {}

  record GetAttr(Expr target, String name) implements Expr {}

  record GetItem(Expr target, Expr key) implements Expr {}

  record Slice(Expr target, Expr start, Expr stop, Expr step) implements Expr {}

  record Call(Expr callee, List<Expr> args, List<String> kwNames, List<Expr> kwValues, int line) implements Expr {}

  record FilterCall(String name, List<Expr> args, List<String> kwNames, List<Expr> kwValues, int line) {}

  record Filter(Expr value, FilterCall filter) implements Expr {}

  record Test(Expr value, String name, List<Expr> args, boolean negated, int line) implements Expr {}

  record Unary(String op, Expr operand) implements Expr {}

  record Binary(String op, Expr left, Expr right, int line) implements Expr {}

  record And(Expr left, Expr right) implements Expr {}

  record Or(Expr left, Expr right) implements Expr {}

  record Not(Expr operand) implements Expr {}

  /** Chained comparison {@code a < b <= c}: Python evaluates each link and stops at the first false one. */
  record Compare(Expr first, List<String> ops, List<Expr> rest, int line) implements Expr {}

  record Conditional(Expr condition, Expr then, Expr otherwise) implements Expr {}

  record ListLiteral(List<Expr> items) implements Expr {}

  record TupleLiteral(List<Expr> items) implements Expr {}

  record DictLiteral(List<Expr> keys, List<Expr> values) implements Expr {}
}
