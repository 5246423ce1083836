// The official OpenAI SDK against a running Herd server. Started by OpenAiSdkTest, which passes the server's
// URL, key and model in the environment, and in HERD_EXPECT what an independent greedy decoding produced.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const model = process.env.HERD_MODEL;
const expect = JSON.parse(process.env.HERD_EXPECT);
const client = new OpenAI({
  baseURL: process.env.HERD_BASE_URL,
  apiKey: process.env.HERD_API_KEY,
  maxRetries: 0,
  timeout: 30_000,
});
const checks = [];

async function check(name, fn) {
  await fn();
  checks.push(name);
}

await check('models.list', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), [model]);
});

const chatParams = {
  model,
  messages: [{ role: 'user', content: expect.chat.user }],
  temperature: 0,
  max_tokens: expect.chat.maxTokens,
};

await check('chat, not streamed', async () => {
  const chat = await client.chat.completions.create(chatParams);
  assert.equal(chat.object, 'chat.completion');
  assert.equal(chat.choices.length, 1);
  assert.equal(chat.choices[0].message.role, 'assistant');
  assert.equal(chat.choices[0].message.content, expect.chat.text);
  assert.equal(chat.choices[0].finish_reason, expect.chat.finish);
  assert.equal(chat.usage.prompt_tokens, expect.chat.promptTokens);
  assert.equal(chat.usage.completion_tokens, expect.chat.completionTokens);
  assert.equal(chat.usage.total_tokens, expect.chat.promptTokens + expect.chat.completionTokens);
});

await check('chat, streamed with usage', async () => {
  const stream = await client.chat.completions.create({
    ...chatParams, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks >= 3, `several chunks, got ${chunks}`);
  assert.equal(text, expect.chat.text);
  assert.equal(finish, expect.chat.finish);
  assert.equal(usage?.prompt_tokens, expect.chat.promptTokens);
  assert.equal(usage?.completion_tokens, expect.chat.completionTokens);
});

await check('chat with a stop string', async () => {
  const chat = await client.chat.completions.create({ ...chatParams, stop: [expect.stop.stop] });
  assert.equal(chat.choices[0].message.content, expect.stop.text);
  assert.equal(chat.choices[0].finish_reason, 'stop');
});

const completionParams = {
  model, prompt: expect.text.prompt, temperature: 0, max_tokens: expect.text.maxTokens,
};

await check('completion, not streamed', async () => {
  const completion = await client.completions.create(completionParams);
  assert.equal(completion.object, 'text_completion');
  assert.equal(completion.choices[0].text, expect.text.text);
  assert.equal(completion.choices[0].finish_reason, expect.text.finish);
  assert.equal(completion.usage.prompt_tokens, expect.text.promptTokens);
  assert.equal(completion.usage.completion_tokens, expect.text.completionTokens);
});

await check('completion, streamed', async () => {
  const stream = await client.completions.create({
    ...completionParams, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, expect.text.text);
  assert.equal(finish, expect.text.finish);
  assert.equal(usage?.completion_tokens, expect.text.completionTokens);
});

await check('errors surface as the SDK\'s typed errors', async () => {
  await assert.rejects(client.chat.completions.create({ ...chatParams, model: 'no-such-model' }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({ ...chatParams, temperature: 9 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  const noKey = new OpenAI({ baseURL: process.env.HERD_BASE_URL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(noKey.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
});

console.log(`openai-sdk e2e ok: ${checks.join('; ')}`);
