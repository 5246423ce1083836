// Renders chat-template cases with @huggingface/jinja the way transformers' apply_chat_template does,
// so the Java renderer can be compared against it string for string.
//
// Usage: node render.mjs cases.json > results.json
//
// cases.json: {"cases": [{"id", "config": "/path/tokenizer_config.json", "messages": [...],
//                          "add_generation_prompt": bool, "context": {...}, "now": "YYYY-MM-DDTHH:MM:SS"}]}
// results:    [{"id", "ok": true, "text"} | {"id", "ok": false, "raised": msg|null, "error": msg}]
//
// What transformers does (utils/chat_template_utils.py, render_jinja_template / _compile_jinja_template):
//   template.render(messages=..., tools=tools_or_None, documents=None, add_generation_prompt=...,
//                   **special_tokens_map, **extra_kwargs)
// with trim_blocks and lstrip_blocks on, raise_exception and strftime_now as globals and a tojson filter that is
// json.dumps(ensure_ascii=False, ...). @huggingface/jinja's Template has all of these built in. Two globals are
// swapped when Template.render declares them: strftime_now reads the case's fixed "now" instead of the wall
// clock, and raise_exception throws a marked error so a template's own refusal can be told from other failures.
import { readFileSync } from "node:fs";
import { Environment, Template } from "@huggingface/jinja";

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

// Python's time.strftime in the C locale, for a naive local date-time given as "YYYY-MM-DDTHH:MM:SS".
function strftime(now, format) {
  const [date, time] = now.split("T");
  const [Y, m, d] = date.split("-").map(Number);
  const [H, M, S] = time.split(":").map(Number);
  const dow = new Date(Date.UTC(Y, m - 1, d)).getUTCDay();
  const doy = Math.round((Date.UTC(Y, m - 1, d) - Date.UTC(Y, 0, 1)) / 86400000) + 1;
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return format.replace(/%./g, (t) => {
    switch (t[1]) {
      case "Y": return String(Y);
      case "y": return pad(Y % 100);
      case "m": return pad(m);
      case "d": return pad(d);
      case "e": return String(d).padStart(2, " ");
      case "H": return pad(H);
      case "I": return pad(H % 12 === 0 ? 12 : H % 12);
      case "M": return pad(M);
      case "S": return pad(S);
      case "p": return H < 12 ? "AM" : "PM";
      case "b": return MONTHS[m - 1].slice(0, 3);
      case "B": return MONTHS[m - 1];
      case "a": return DAYS[dow].slice(0, 3);
      case "A": return DAYS[dow];
      case "j": return pad(doy, 3);
      case "%": return "%";
      default: return t;
    }
  });
}

function tokenContent(token) {
  if (token === null || token === undefined) return undefined;
  return typeof token === "string" ? token : token.content;
}

function templateSource(config) {
  const t = config.chat_template;
  if (typeof t === "string") return t;
  const named = t.find((x) => x.name === "default");
  return named.template;
}

class Raised extends Error {}

let currentNow = null;
const declare = Environment.prototype.set;
Environment.prototype.set = function (name, value) {
  if (name === "strftime_now") {
    return declare.call(this, name, (format) => strftime(currentNow, format));
  }
  if (name === "raise_exception") {
    return declare.call(this, name, (message) => { throw new Raised(message); });
  }
  return declare.call(this, name, value);
};

const configs = new Map();
function load(path) {
  if (!configs.has(path)) {
    const config = JSON.parse(readFileSync(path, "utf8"));
    configs.set(path, { config, template: new Template(templateSource(config)) });
  }
  return configs.get(path);
}

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = [];
for (const c of input.cases) {
  try {
    const { config, template } = load(c.config);
    const vars = {
      messages: c.messages,
      tools: null,
      documents: null,
      add_generation_prompt: c.add_generation_prompt,
    };
    // special_tokens_map carries only the tokens the tokenizer has (None ones are left out).
    for (const name of ["bos_token", "eos_token"]) {
      const content = tokenContent(config[name]);
      if (content !== undefined) vars[name] = content;
    }
    Object.assign(vars, c.context ?? {});
    currentNow = c.now;
    results.push({ id: c.id, ok: true, text: template.render(vars) });
  } catch (e) {
    results.push({ id: c.id, ok: false, raised: e instanceof Raised ? e.message : null, error: String(e.message) });
  }
}
process.stdout.write(JSON.stringify(results));
