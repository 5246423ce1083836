package dev.herd.model.chat;

import java.util.List;
import java.util.Map;

/** Anything a template can call: globals, macros and bound methods of strings, dicts and lists. */
@FunctionalInterface
interface PyCallable {
  Object call(List<Object> args, Map<String, Object> kwargs);
}
