package dev.herd.model.chat;

import java.util.List;

/** Jinja2's {@code loop} variable inside a {@code for}: position, neighbours and {@code cycle}. */
final class LoopContext {
  private final List<Object> items;
  private final int depth0;
  int index0;

  LoopContext(List<Object> items, int depth0) {
    this.items = items;
    this.depth0 = depth0;
  }

  Object attribute(String name) {
    int n = items.size();
    return switch (name) {
      case "index0" -> (long) index0;
      case "index" -> (long) index0 + 1;
      case "revindex" -> (long) (n - index0);
      case "revindex0" -> (long) (n - index0 - 1);
      case "first" -> index0 == 0;
      case "last" -> index0 == n - 1;
      case "length" -> (long) n;
      case "depth" -> (long) depth0 + 1;
      case "depth0" -> (long) depth0;
      case "previtem" -> index0 > 0 ? items.get(index0 - 1) : new Undefined("there is no previous item");
      case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : new Undefined("there is no next item");
      case "cycle" -> (PyCallable) (args, kwargs) -> {
        if (args.isEmpty()) {
          throw ChatTemplateException.error("no items for cycling given");
        }
        return args.get(index0 % args.size());
      };
      case "changed" -> throw ChatTemplateException.error("loop.changed is not supported");
      default -> new Undefined("'LoopContext object' has no attribute '" + name + "'");
    };
  }
}
