package dev.herd.coordinator.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.coordinator.TestModel;
import dev.herd.coordinator.scheduler.SchedulerSettings;
import dev.herd.coordinator.scheduler.SchedulerStats;
import dev.herd.model.chat.ChatMessage;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The HTTP API over the test model, through java.net.http on loopback. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ApiServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    static TestModel model;
    static Vertx vertx;
    static TestServer server;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        model = TestModel.create(dir);
        vertx = Vertx.vertx();
        server = new TestServer(vertx, model, ApiSettings.local(0), SchedulerSettings.of(64, 512), true);
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        model.close();
    }

    static HttpResponse<String> post(TestServer s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.url(path))).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(TestServer s, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(s.url(path))).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static String json(Object value) throws Exception {
        return JSON.writeValueAsString(value);
    }

    /** The reference continuation of a chat, computed without the server: template, tokenizer, greedy decoder. */
    static int[] referenceChatIds(String user, int maxTokens) {
        String rendered = model.bundle.chatTemplate().orElseThrow().render(List.of(ChatMessage.user(user)), true, Map.of());
        return model.greedy(model.tokenizer().encode(rendered, false, true), maxTokens);
    }

    static int referenceChatPromptLength(String user) {
        String rendered = model.bundle.chatTemplate().orElseThrow().render(List.of(ChatMessage.user(user)), true, Map.of());
        return model.tokenizer().encode(rendered, false, true).length;
    }

    static String finishOf(int[] reference, int maxTokens) {
        return model.eos.contains(reference[reference.length - 1]) ? "stop" : reference.length == maxTokens ? "length" : "?";
    }

    static void assertError(HttpResponse<String> r, int status, String type, String param) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertEquals(type, error.get("type").asText(), r.body());
        assertTrue(error.get("message").asText().length() > 5, r.body());
        if (param == null) {
            assertTrue(error.get("param").isNull(), r.body());
        } else {
            assertEquals(param, error.get("param").asText(), r.body());
        }
        assertTrue(error.has("code"), r.body());
    }

    @Test
    void chatCompletionEqualsTheReferenceDecoding() throws Exception {
        String user = "Tell me about the herd.";
        int[] reference = referenceChatIds(user, 10);
        HttpResponse<String> r = post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "user", "content", user)), "temperature", 0, "max_tokens", 10)));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElseThrow());
        JsonNode body = JSON.readTree(r.body());
        assertEquals("chat.completion", body.get("object").asText());
        assertTrue(body.get("id").asText().startsWith("chatcmpl-"));
        assertEquals(TestServer.MODEL, body.get("model").asText());
        JsonNode choice = body.get("choices").get(0);
        assertEquals("assistant", choice.get("message").get("role").asText());
        assertEquals(model.tokenizer().decode(reference, true), choice.get("message").get("content").asText());
        assertEquals(finishOf(reference, 10), choice.get("finish_reason").asText());
        assertTrue(choice.get("logprobs").isNull());
        JsonNode usage = body.get("usage");
        assertEquals(referenceChatPromptLength(user), usage.get("prompt_tokens").asInt());
        assertEquals(reference.length, usage.get("completion_tokens").asInt());
        assertEquals(usage.get("prompt_tokens").asInt() + reference.length, usage.get("total_tokens").asInt());
    }

    @Test
    void streamedChatSendsSseChunksUsageAndDone() throws Exception {
        String user = "Stream it, please.";
        int[] reference = referenceChatIds(user, 12);
        HttpResponse<String> r = post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "user", "content", user)), "temperature", 0, "max_tokens", 12,
                "stream", true, "stream_options", Map.of("include_usage", true))));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElseThrow().startsWith("text/event-stream"));
        assertFalse(r.headers().firstValue("Connection").map(v -> v.equalsIgnoreCase("keep-alive")).orElse(false),
                "no Connection: keep-alive on an event stream");
        List<String> events = events(r.body());
        assertEquals("[DONE]", events.getLast());
        StringBuilder content = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (int i = 0; i < events.size() - 1; i++) {
            JsonNode chunk = JSON.readTree(events.get(i));
            assertEquals("chat.completion.chunk", chunk.get("object").asText());
            if (chunk.get("choices").isEmpty()) {
                assertEquals(events.size() - 2, i, "the usage chunk comes last before [DONE]");
                usage = chunk.get("usage");
                continue;
            }
            JsonNode c = chunk.get("choices").get(0);
            if (i == 0) {
                assertEquals("assistant", c.get("delta").get("role").asText(), "the first chunk opens the role");
            }
            if (c.get("delta").has("content")) {
                content.append(c.get("delta").get("content").asText());
            }
            if (!c.get("finish_reason").isNull()) {
                assertNull(finish, "one finish chunk");
                finish = c.get("finish_reason").asText();
                assertTrue(c.get("delta").isEmpty());
            }
        }
        assertEquals(model.tokenizer().decode(reference, true), content.toString());
        assertEquals(finishOf(reference, 12), finish);
        assertEquals(reference.length, usage.get("completion_tokens").asInt());
        assertEquals(referenceChatPromptLength(user), usage.get("prompt_tokens").asInt());
    }

    @Test
    void completionsFromTokenIdsWithLogprobsStreamedAndNot() throws Exception {
        int[] prompt = model.tokenizer().encode("Once upon a time", true);
        int[] reference = model.greedy(prompt, 8);
        List<Integer> ids = java.util.Arrays.stream(prompt).boxed().toList();
        HttpResponse<String> r = post(server, "/v1/completions", json(Map.of("model", TestServer.MODEL,
                "prompt", ids, "temperature", 0, "max_tokens", 8, "logprobs", 2)));
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = JSON.readTree(r.body());
        assertEquals("text_completion", body.get("object").asText());
        JsonNode choice = body.get("choices").get(0);
        assertEquals(model.tokenizer().decode(reference, true), choice.get("text").asText());
        JsonNode lp = choice.get("logprobs");
        assertEquals(reference.length, lp.get("tokens").size());
        assertEquals(reference.length, lp.get("token_logprobs").size());
        for (int i = 0; i < reference.length; i++) {
            assertEquals(model.tokenizer().decode(new int[]{reference[i]}, false), lp.get("tokens").get(i).asText());
            double chosen = lp.get("token_logprobs").get(i).asDouble();
            assertTrue(chosen <= 0);
            // greedy picks the most likely token: its log-probability is the best of the alternatives
            double best = Double.NEGATIVE_INFINITY;
            for (JsonNode v : lp.get("top_logprobs").get(i)) {
                best = Math.max(best, v.asDouble());
            }
            assertEquals(best, chosen, 1e-9);
            assertTrue(lp.get("top_logprobs").get(i).size() <= 2);
        }
        assertEquals(prompt.length, body.get("usage").get("prompt_tokens").asInt());

        HttpResponse<String> s = post(server, "/v1/completions", json(Map.of("model", TestServer.MODEL,
                "prompt", "Once upon a time", "temperature", 0, "max_tokens", 8, "stream", true)));
        List<String> events = events(s.body());
        assertEquals("[DONE]", events.getLast());
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode c = JSON.readTree(e).get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        assertEquals(model.tokenizer().decode(reference, true), text.toString(), "a text prompt gets BOS as ids did");
        assertEquals(finishOf(reference, 8), finish);
    }

    @Test
    void chatLogprobsAndSeveralChoicesStreamed() throws Exception {
        String user = "Two answers, please.";
        int[] reference = referenceChatIds(user, 6);
        HttpResponse<String> whole = post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "user", "content", user)), "temperature", 0, "max_tokens", 6,
                "logprobs", true, "top_logprobs", 3)));
        JsonNode content = JSON.readTree(whole.body()).get("choices").get(0).get("logprobs").get("content");
        assertEquals(reference.length, content.size(), whole.body());
        for (int i = 0; i < reference.length; i++) {
            JsonNode entry = content.get(i);
            assertEquals(model.tokenizer().decode(new int[]{reference[i]}, false), entry.get("token").asText());
            assertEquals(3, entry.get("top_logprobs").size());
            assertEquals(entry.get("top_logprobs").get(0).get("logprob").asDouble(), entry.get("logprob").asDouble(),
                    1e-9, "greedy takes the most likely token");
            assertEquals(entry.get("top_logprobs").get(0).get("token").asText(), entry.get("token").asText());
        }

        HttpResponse<String> streamed = post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "user", "content", user)), "temperature", 0, "max_tokens", 6,
                "n", 2, "stream", true)));
        StringBuilder[] texts = {new StringBuilder(), new StringBuilder()};
        int[] finishes = new int[2];
        List<String> events = events(streamed.body());
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode c = JSON.readTree(e).get("choices").get(0);
            int index = c.get("index").asInt();
            texts[index].append(c.get("delta").path("content").asText(""));
            finishes[index] += c.get("finish_reason").isNull() ? 0 : 1;
        }
        String expected = model.tokenizer().decode(reference, true);
        assertEquals(expected, texts[0].toString(), "greedy choices are equal");
        assertEquals(expected, texts[1].toString());
        assertEquals(1, finishes[0]);
        assertEquals(1, finishes[1]);
    }

    @Test
    void modelsHealthReadyAndMetrics() throws Exception {
        JsonNode models = JSON.readTree(get(server, "/v1/models").body());
        assertEquals("list", models.get("object").asText());
        assertEquals(TestServer.MODEL, models.get("data").get(0).get("id").asText());
        assertEquals(200, get(server, "/health").statusCode());
        assertEquals(200, get(server, "/ready").statusCode());
        post(server, "/v1/completions", json(Map.of("model", TestServer.MODEL, "prompt", "Hi", "max_tokens", 2)));
        HttpResponse<String> m = get(server, "/metrics");
        assertEquals(200, m.statusCode());
        assertTrue(m.headers().firstValue("Content-Type").orElseThrow().startsWith("text/plain"));
        String text = m.body();
        assertTrue(text.contains("herd_requests_total{endpoint=\"/v1/completions\",status=\"200\",}"), text);
        assertTrue(text.contains("herd_time_to_first_token_seconds_bucket"), text);
        assertTrue(text.contains("herd_generated_tokens_total"), text);
        assertTrue(text.contains("herd_kv_blocks{state=\"free\",}"), text);
        assertTrue(text.contains("herd_queue_depth"), text);
        assertTrue(text.contains("herd_running_sequences"), text);
    }

    @Test
    void metricsCountWhatARequestDid() throws Exception {
        try (TestServer s = new TestServer(vertx, model, ApiSettings.local(0), SchedulerSettings.of(64, 128), true)) {
            HttpResponse<String> r = post(s, "/v1/completions", json(Map.of("model", TestServer.MODEL,
                    "prompt", "Hello", "max_tokens", 6, "n", 2, "temperature", 1, "seed", 5)));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode usage = JSON.readTree(r.body()).get("usage");
            assertEquals(2, JSON.readTree(r.body()).get("choices").size());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (s.registry.getSampleValue("herd_requests_total", new String[]{"endpoint", "status"},
                    new String[]{"/v1/completions", "200"}) == null && System.nanoTime() < deadline) {
                Thread.sleep(5); // the end handler runs just after the response is written
            }
            assertEquals(1.0, s.registry.getSampleValue("herd_requests_total", new String[]{"endpoint", "status"},
                    new String[]{"/v1/completions", "200"}));
            assertEquals(usage.get("completion_tokens").asDouble(),
                    s.registry.getSampleValue("herd_generated_tokens_total"));
            assertEquals(usage.get("prompt_tokens").asDouble(), s.registry.getSampleValue("herd_prompt_tokens_total"));
            assertEquals(1.0, s.registry.getSampleValue("herd_time_to_first_token_seconds_count"));
            assertNull(io.prometheus.client.CollectorRegistry.defaultRegistry
                    .getSampleValue("herd_generated_tokens_total"), "nothing lands in the global registry");
        }
    }

    @Test
    void badRequestsAre400sNamingTheField() throws Exception {
        assertError(post(server, "/v1/chat/completions", "{\"model\": "), 400, "invalid_request_error", null);
        assertError(post(server, "/v1/chat/completions", "[1, 2]"), 400, "invalid_request_error", null);
        assertError(post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL))),
                400, "invalid_request_error", "messages");
        assertError(post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "user", "content", "x")), "temperature", 3))),
                400, "invalid_request_error", "temperature");
        assertError(post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "user", "content", "x")), "top_p", "high"))),
                400, "invalid_request_error", "top_p");
        assertError(post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "wizard", "content", "x"))))),
                400, "invalid_request_error", "messages[0].role");
        assertError(post(server, "/v1/chat/completions", json(Map.of("model", TestServer.MODEL,
                "messages", List.of(Map.of("role", "user", "content", "x")), "frobnicate", true))),
                400, "invalid_request_error", "frobnicate");
        assertError(post(server, "/v1/completions", json(Map.of("model", TestServer.MODEL, "prompt", "x",
                "stop", List.of(1, 2)))), 400, "invalid_request_error", "stop");
        assertError(post(server, "/v1/completions", json(Map.of("model", TestServer.MODEL, "prompt", "x",
                "max_tokens", 0))), 400, "invalid_request_error", "max_tokens");
        HttpResponse<String> wrongModel = post(server, "/v1/completions", json(Map.of("model", "gpt-4", "prompt", "x")));
        assertError(wrongModel, 404, "invalid_request_error", "model");
        assertEquals("model_not_found", JSON.readTree(wrongModel.body()).get("error").get("code").asText());
        assertError(get(server, "/v1/nothing-here"), 404, "invalid_request_error", null);
        assertError(get(server, "/v1/chat/completions"), 405, "invalid_request_error", null);
    }

    @Test
    void aPromptLongerThanTheContextIs400() throws Exception {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            ids.add(65 + i % 20);
        }
        HttpResponse<String> r = post(server, "/v1/completions", json(Map.of("model", TestServer.MODEL,
                "prompt", ids, "max_tokens", 4)));
        assertError(r, 400, "invalid_request_error", "prompt");
        assertEquals("context_length_exceeded", JSON.readTree(r.body()).get("error").get("code").asText());
        HttpResponse<String> tooMany = post(server, "/v1/completions", json(Map.of("model", TestServer.MODEL,
                "prompt", "Hello", "max_tokens", 5000)));
        assertError(tooMany, 400, "invalid_request_error", "max_tokens");
    }

    @Test
    void apiKeysAreRequiredWhenConfigured() throws Exception {
        ApiSettings keyed = new ApiSettings("127.0.0.1", 0, List.of("secret-1", "secret-2"), 1 << 20);
        try (TestServer s = new TestServer(vertx, model, keyed, SchedulerSettings.of(64, 64), true)) {
            String body = json(Map.of("model", TestServer.MODEL, "prompt", "Hi", "max_tokens", 1));
            assertError(post(s, "/v1/completions", body), 401, "invalid_request_error", null);
            assertError(post(s, "/v1/completions", body, "Authorization", "Bearer wrong"), 401,
                    "invalid_request_error", null);
            assertError(post(s, "/v1/completions", body, "Authorization", "secret-1"), 401,
                    "invalid_request_error", null);
            assertEquals(200, post(s, "/v1/completions", body, "Authorization", "Bearer secret-2").statusCode());
            assertEquals(200, get(s, "/health").statusCode(), "health needs no key");
        }
    }

    @Test
    void aBodyOverTheLimitIs413() throws Exception {
        ApiSettings small = new ApiSettings("127.0.0.1", 0, List.of(), 2048);
        try (TestServer s = new TestServer(vertx, model, small, SchedulerSettings.of(64, 64), true)) {
            String big = json(Map.of("model", TestServer.MODEL, "prompt", "x".repeat(4096)));
            assertError(post(s, "/v1/completions", big), 413, "invalid_request_error", null);
        }
    }

    @Test
    void aFullQueueIs429() throws Exception {
        SchedulerSettings none = SchedulerSettings.of(64, 64).withMaxQueuedRequests(0);
        try (TestServer s = new TestServer(vertx, model, ApiSettings.local(0), none, true)) {
            HttpResponse<String> r = post(s, "/v1/completions", json(Map.of("model", TestServer.MODEL,
                    "prompt", "Hi", "max_tokens", 1)));
            assertError(r, 429, "rate_limit_error", null);
        }
    }

    @Test
    void notReadyIs503UntilTheModelIsSet() throws Exception {
        try (TestServer s = new TestServer(vertx, model, ApiSettings.local(0), SchedulerSettings.of(64, 64), false)) {
            assertEquals(200, get(s, "/health").statusCode());
            assertError(get(s, "/ready"), 503, "server_error", null);
            assertError(post(s, "/v1/completions", json(Map.of("model", TestServer.MODEL, "prompt", "Hi"))),
                    503, "server_error", null);
            s.makeReady(model);
            assertEquals(200, get(s, "/ready").statusCode());
        }
    }

    @Test
    void aClientThatDisconnectsCancelsItsRequest() throws Exception {
        try (TestServer s = new TestServer(vertx, model, ApiSettings.local(0), SchedulerSettings.of(64, 256), true)) {
            String body = json(Map.of("model", TestServer.MODEL, "prompt", "Tell a long story", "max_tokens", 3000,
                    "temperature", 0, "stream", true));
            try (Socket socket = new Socket("127.0.0.1", s.port)) {
                socket.setSoTimeout(20_000);
                OutputStream out = socket.getOutputStream();
                byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(bytes);
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                int chunks = 0;
                for (String line; chunks < 3 && (line = in.readLine()) != null; ) {
                    if (line.startsWith("data: {")) {
                        chunks++;
                    }
                }
                assertEquals(3, chunks, "the stream started");
                SchedulerStats busy = s.scheduler.stats();
                assertTrue(busy.runningSequences() == 1 && busy.kvBlocksUsed() > 0, busy.toString());
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!s.scheduler.stats().idle() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            SchedulerStats stats = s.scheduler.stats();
            assertTrue(stats.idle(), "the request was cancelled: " + stats);
            assertEquals(256, stats.kvBlocksFree());
            Double gone = s.registry.getSampleValue("herd_requests_total", new String[]{"endpoint", "status"},
                    new String[]{"/v1/completions", "499"});
            assertEquals(1.0, gone, "a client that left is counted as 499");
            assertEquals(256.0, s.registry.getSampleValue("herd_kv_blocks", new String[]{"state"}, new String[]{"free"}));
        }
    }

    /** The data payloads of a server-sent event stream, checking the framing on the way. */
    static List<String> events(String stream) {
        List<String> out = new ArrayList<>();
        for (String event : stream.split("\n\n")) {
            if (event.isEmpty()) {
                continue;
            }
            assertTrue(event.startsWith("data: "), "event framing: " + event);
            assertFalse(event.substring(6).contains("\n"), "one line per event: " + event);
            out.add(event.substring(6));
        }
        assertTrue(stream.endsWith("\n\n"), "the stream ends with a complete event");
        return out;
    }
}
