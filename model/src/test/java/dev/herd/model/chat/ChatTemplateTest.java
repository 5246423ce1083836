package dev.herd.model.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The renderer's Jinja2 semantics, one behaviour at a time. Every expected string is what Python's Jinja2 3.1 prints
 * with transformers' settings (trim_blocks, lstrip_blocks, its tojson and globals), worked out by hand; several are
 * exactly where other engines differ (jinjava, and @huggingface/jinja on strip arguments and selectattr).
 */
class ChatTemplateTest {
  private static final Clock CLOCK =
      Clock.fixed(LocalDateTime.of(2025, 3, 7, 14, 5, 9).toInstant(ZoneOffset.UTC), ZoneOffset.UTC);

  private static String render(String template, Map<String, Object> vars) {
    return new ChatTemplate(template, "<s>", "</s>", CLOCK).render(List.of(), false, vars);
  }

  private static String render(String template) {
    return render(template, Map.of());
  }

  private static ChatTemplateException failure(String template, Map<String, Object> vars) {
    return assertThrows(ChatTemplateException.class, () -> render(template, vars));
  }

  @Test
  void blockTagsTrimTheirNewlineAndLeadingIndentButExpressionsDoNot() {
    assertEquals("  x\ny", render("  {% if true %}\n  x\n  {% endif %}\ny"));
    assertEquals("ab c", render("a  {%- if true -%}  b  {%- endif %}\n c"));
    assertEquals("  x", render("  {%+ if true %}x{% endif %}"), "{%+ keeps the indentation");
    assertEquals("\nx", render("{% if true +%}\nx{% endif %}\n\n"), "+%} keeps its newline; one trailing newline goes");
    assertEquals("  a\nb", render("  {{ 'a' }}\nb"));
    assertEquals("x", render("  {# note #}\nx"));
    assertEquals("x", render("x\n"));
    assertEquals("a\nb", render("a\r\nb"), "newlines are normalised to \\n");
    assertEquals("{{ not parsed }}", render("{% raw %}{{ not parsed }}{% endraw %}"));
  }

  @Test
  void messageTextIsDataNeverTemplateSyntax() {
    ChatTemplate t = new ChatTemplate("{% for m in messages %}[{{ m.content }}]{% endfor %}", null, null);
    String text = "{{ 7*7 }} {% raw %} {# c #} {%- if true %}";
    assertEquals("[" + text + "]", t.render(List.of(ChatMessage.user(text)), false, Map.of()));
  }

  @Test
  void pythonValuesPrintAsPythonPrintsThem() {
    assertEquals("None|True|False||1.0|3.5|3|-4|2|1024", render(
        "{{ none }}|{{ true }}|{{ false }}|{{ undefined_name }}|{{ 1.0 }}|{{ 7 / 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}"
            + "|{{ -7 % 3 }}|{{ 2 ** 10 }}"));
    assertEquals("['a', \"it's\", None, {'k': 1.5}]", render("{{ ['a', \"it's\", none, {'k': 1.5}] }}"));
    assertEquals("aNone", render("{{ 'a' ~ none }}"));
    assertEquals("a-3", render("{{ '%s-%d' % ('a', 3) }}"));
    assertEquals("2.0|3.14|2.67|4.0|3", render(
        "{{ 2.5 | round }}|{{ 3.14159 | round(2) }}|{{ 2.675 | round(2) }}|{{ 3.2 | round(method='ceil') }}"
            + "|{{ '3.7' | int }}"));
  }

  @Test
  void tojsonIsPythonJsonDumpsWithTransformersDefaults() {
    Map<String, Object> v = Map.of("x", ReferenceCases.ordered("b", 1, "a", List.of(1, 2.5, true, "é\"\n")));
    assertEquals("{\"b\": 1, \"a\": [1, 2.5, true, \"é\\\"\\n\"]}", render("{{ x | tojson }}", v));
    assertEquals("{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2.5,\n    true,\n    \"é\\\"\\n\"\n  ]\n}",
        render("{{ x | tojson(indent=2) }}", v));
    assertEquals("{\"a\":[1,2.5,true,\"\\u00e9\\\"\\n\"],\"b\":1}",
        render("{{ x | tojson(separators=(',', ':'), sort_keys=true, ensure_ascii=true) }}", v));
    assertEquals("[1.0, 1e+16, 0.1, 1e-05, 1.2345678901234568e+17, null, {}, []]",
        render("{{ [1.0, 1e16, 0.1, 0.00001, 123456789012345678.0, none, {}, []] | tojson }}"));
    assertEquals("\"\\ud83d\\ude00 \\u2028\"", render("{{ '😀 \u2028' | tojson(ensure_ascii=true) }}"));
  }

  @Test
  void namespacesCarryValuesOutOfLoopsWhilePlainSetsDoNot() {
    assertEquals("3 [1, 2]", render("{% set ns = namespace(count=0, seen=[]) %}{% for i in range(3) %}"
        + "{% set ns.count = ns.count + i %}{% if i %}{% set ns.seen = ns.seen + [i] %}{% endif %}{% endfor %}"
        + "{{ ns.count }} {{ ns.seen }}"));
    assertEquals("1", render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"));
    assertEquals("2", render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"));
    assertTrue(failure("{% set d = {} %}{% set d.x = 1 %}", Map.of()).getMessage().contains("non-namespace"));
  }

  @Test
  void slicingAndIndexingCountCodePoints() {
    assertEquals("[4, 3, 2, 1]|él|[2, 3]|ac|😀|3|x", render(
        "{{ [1,2,3,4][::-1] }}|{{ 'héllo'[1:3] }}|{{ [1,2,3][-2:] }}|{{ 'abc'[::2] }}|{{ '😀x'[0] }}|{{ [1,2,3][-1] }}"
            + "|{{ '😀x'[-1] }}"));
    assertEquals("2", render("{{ '😀x' | length }}"));
  }

  @Test
  void pythonStringMethodsUsePythonDefinitions() {
    assertEquals("a b|a|['a', 'b', '', 'c']|['a', 'b']|True|False|It'S A Test|It's A Test|bba|   |x y|A|1", render(
        "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}"
            + "|{{ 'Hello'.startswith('He') }}|{{ 'Hello'.endswith(('x', 'y')) }}|{{ \"it's a test\".title() }}"
            + "|{{ \"it's a test\" | title }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ '   '.lstrip('\\n') }}"
            + "|{{ '\\n x y \\n'.strip('\\n').strip() }}|{{ 'a'.upper() }}|{{ 'abcb'.find('b') }}"));
    assertEquals("visible", render("{% set c = '<think>r</think>\\n\\nvisible' %}{{ c.split('</think>')[-1].lstrip('\\n') }}"));
    assertEquals("x", render("{{ '\u00a0x\u2028' | trim }}"), "trim strips Python whitespace, NBSP and U+2028 too");
  }

  @Test
  void testsAndOperatorPrecedenceFollowJinja2() {
    assertEquals("True|True|True|True|False|True|True", render("{{ not x is defined }}|{{ none is none }}"
        + "|{{ 's' is string }}|{{ {} is mapping }}|{{ 3 is iterable }}|{{ 'ab' is iterable }}|{{ 1 is not string }}"));
    assertEquals("4", render("{% set xs = [1, 2, 3, 4, 5] %}{{ xs|length - 1 }}"));
    assertEquals("True|False|True", render("{{ 'a' in 'cat' }}|{{ 'z' in ['a'] }}|{{ 'a' in {'a': 1} }}"));
    assertEquals("True", render("{{ 1 < 2 < 3 }}"));
    assertEquals("n|", render("{{ 'y' if 0 else 'n' }}|{{ 'y' if false }}"));
    assertEquals("True", render("{{ 1 == 1.0 and true == 1 }}"));
  }

  @Test
  void dictsLoopsAndMacros() {
    assertEquals("a=1;b=None;", render("{% for k, v in {'a': 1, 'b': none}.items() %}{{ k }}={{ v }};{% endfor %}"));
    assertEquals("dflt|1", render("{{ {'a': 1}.get('b', 'dflt') }}|{{ {'a': 1}.get('a') }}"));
    assertEquals("0TrueFalse3,1FalseFalse3,2FalseTrue3,", render(
        "{% for x in 'abc' %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %}"));
    assertEquals("02|empty", render("{% for i in range(5) if i % 2 == 0 %}{% if i == 4 %}{% break %}{% endif %}"
        + "{{ i }}{% endfor %}|{% for i in [] %}x{% else %}empty{% endfor %}"));
    assertEquals("13", render("{% for i in range(4) %}{% if i is even %}{% continue %}{% endif %}{{ i }}{% endfor %}"));
    assertEquals("2 1|1", render("{% set a = 1 %}{% with a = 2, b = a %}{{ a }} {{ b }}{% endwith %}|{{ a }}"));
    assertEquals("Hi Bo!Hi Al?", render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
        + "{{ greet('Bo') }}{{ greet('Al', punct='?') }}"));
  }

  @Test
  void filterResultsAreIteratorsLikeInPython() {
    Map<String, Object> v = Map.of("ms", List.of(Map.of("role", "user"), Map.of("role", "tool", "tool_calls", 1)));
    assertEquals("T", render("{% if [] | selectattr('x') %}T{% else %}F{% endif %}", v),
        "a generator is true even when empty");
    assertEquals("user", render("{% for m in ms | selectattr('tool_calls', 'undefined') %}{{ m.role }}{% endfor %}", v));
    assertEquals("1", render("{{ ms | rejectattr('role', 'equalto', 'tool') | list | length }}", v));
    assertTrue(failure("{{ ms | selectattr('role') | length }}", v).getMessage().contains("has no len()"));
    assertEquals("A,B", render("{{ ['a', 'b'] | map('upper') | join(',') }}"));
  }

  @Test
  void errorsSurfaceLikePythonsInsteadOfRenderingGarbage() {
    assertTrue(failure("{{ 'a' + 1 }}", Map.of()).getMessage().contains("can only concatenate str"));
    assertTrue(failure("{{ x.y }}", Map.of()).getMessage().contains("'x' is undefined"));
    assertTrue(failure("{{ 'a' + x }}", Map.of()).getMessage().contains("'x' is undefined"));
    assertTrue(failure("{{ messages.append(1) }}", Map.of()).getMessage().contains("unsafe"));
    assertEquals("", render("{{ d.missing }}", Map.of("d", Map.of())));
    ChatTemplateException syntax = assertThrows(ChatTemplateException.class,
        () -> new ChatTemplate("line1\n{% if x %}\nno end", null, null));
    assertTrue(syntax.getMessage().contains("line"), syntax.getMessage());
    assertFalse(syntax.raisedByTemplate());
  }

  @Test
  void raiseExceptionCarriesTheTemplatesMessage() {
    ChatTemplateException e = failure("{% if messages|length == 0 %}{{ raise_exception('no ' + 'messages') }}"
        + "{% endif %}", Map.of());
    assertTrue(e.raisedByTemplate());
    assertEquals("no messages", e.templateMessage());
    assertEquals("no messages", e.getMessage());
  }

  @Test
  void strftimeNowUsesPythonFormatsInTheCLocale() {
    assertEquals("07 Mar 2025|2025-03-07T14:05:09|Fri Friday March 066 02PM 25", render(
        "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%dT%H:%M:%S') }}"
            + "|{{ strftime_now('%a %A %B %j %I%p %y') }}"));
  }

  @Test
  void contextHasTransformersVariables() {
    ChatTemplate noBos = new ChatTemplate("{{ bos_token is defined }}|{{ eos_token }}|{{ tools }}|{{ documents }}|"
        + "{{ add_generation_prompt }}", null, "</s>");
    assertEquals("False|</s>|None|None|True", noBos.render(List.of(), true, Map.of()));
    ChatTemplate tools = new ChatTemplate("{{ tools | tojson }}", null, null);
    Object schema = new ObjectMapper().createObjectNode().put("name", "f").put("ratio", 0.5);
    assertEquals("[{\"name\": \"f\", \"ratio\": 0.5}]", tools.render(List.of(), List.of(schema), false, Map.of()));
    assertEquals("[1]", tools.render(List.of(), false, Map.of("tools", List.of(1))));
  }

  @Test
  void messagesBecomeDictsWithOnlyTheFieldsThatAreSet() {
    ChatTemplate t = new ChatTemplate("{% for m in messages %}{{ m.role }}:{{ m.content }}:"
        + "{{ 'tool_calls' in m }}:{{ m.name is defined }}:{{ m.tool_call_id | default('-') }};{% endfor %}", null,
        null);
    List<ChatMessage> messages = List.of(ChatMessage.user("hi").withName("ann"),
        ChatMessage.assistantToolCalls(List.of(new ChatMessage.ToolCall("id1", null, "f", Map.of("a", 1)))),
        ChatMessage.tool("out", "id1"));
    assertEquals("user:hi:False:True:-;assistant:None:True:False:-;tool:out:False:False:id1;",
        t.render(messages, false, Map.of()));
    ChatTemplate calls = new ChatTemplate("{% for c in messages[0].tool_calls %}{{ c.type }} {{ c.id }} "
        + "{{ c.function.name }} {{ c.function.arguments | tojson }}{% endfor %}", null, null);
    assertEquals("function id1 f {\"a\": 1}", calls.render(messages.subList(1, 2), false, Map.of()));
  }

  @Test
  void contentPartsAreJoinedUnlessTheTemplateIteratesThem() {
    ChatMessage parts = new ChatMessage("user", new ChatMessage.Parts(List.of(ChatMessage.Part.text("one"),
        new ChatMessage.Part("image", null), ChatMessage.Part.text("two"))), null, null, null, null);
    ChatTemplate stringOnly = new ChatTemplate("{{ messages[0]['content'] }}", null, null);
    assertFalse(stringOnly.acceptsContentParts());
    assertEquals("one\ntwo", stringOnly.render(List.of(parts), false, Map.of()));
    ChatTemplate gemmaLike = new ChatTemplate("{%- for message in messages -%}{%- if message['content'] is string -%}"
        + "{{ message['content'] | trim }}{%- else -%}{%- for item in message['content'] -%}"
        + "{%- if item['type'] == 'image' -%}<img>{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
        + "{%- endif -%}{%- endfor -%}{%- endif -%}{%- endfor -%}", null, null);
    assertTrue(gemmaLike.acceptsContentParts());
    assertEquals("one<img>two", gemmaLike.render(List.of(parts), false, Map.of()));
    assertEquals("plain", gemmaLike.render(List.of(ChatMessage.user(" plain ")), false, Map.of()));
  }
}
