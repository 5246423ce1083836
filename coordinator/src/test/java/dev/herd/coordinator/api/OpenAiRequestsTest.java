package dev.herd.coordinator.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.herd.model.chat.ChatMessage;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Request bodies to records, and every refusal naming its field. */
class OpenAiRequestsTest {
    private static JsonNode body(String json) {
        return OpenAiRequests.parseJson(json.replace('\'', '"').getBytes(StandardCharsets.UTF_8));
    }

    private static String chatParam(String json) {
        return assertThrows(ApiError.class, () -> OpenAiRequests.chat(body(json))).param();
    }

    @Test
    void aFullChatRequestMapsToOptionsAndMessages() {
        OpenAiRequests.ChatRequest r = OpenAiRequests.chat(body("{'model': 'm', 'messages': ["
                + "{'role': 'developer', 'content': 'be brief'},"
                + "{'role': 'user', 'content': [{'type': 'text', 'text': 'a'}, {'type': 'text', 'text': 'b'}], 'name': 'u1'},"
                + "{'role': 'assistant', 'content': null, 'refusal': null, 'annotations': [],"
                + " 'tool_calls': [{'id': 'c1', 'type': 'function', 'function': {'name': 'f', 'arguments': '{}'}}]},"
                + "{'role': 'tool', 'content': '42', 'tool_call_id': 'c1'}],"
                + "'temperature': 0.5, 'top_p': 0.9, 'top_k': -1, 'min_p': 0.1, 'seed': 9, 'n': 2, 'stop': 'END',"
                + "'max_completion_tokens': 7, 'presence_penalty': 0.5, 'frequency_penalty': -0.5,"
                + "'repetition_penalty': 1.1, 'logprobs': true, 'top_logprobs': 2, 'logit_bias': {'5': -100},"
                + "'stream': true, 'stream_options': {'include_usage': true}, 'user': 'someone',"
                + "'response_format': {'type': 'text'}}"));
        OpenAiRequests.Options o = r.options();
        assertEquals("m", o.model());
        assertEquals(7, o.maxTokens());
        assertEquals(List.of("END"), o.stop());
        assertEquals(2, o.n());
        assertTrue(o.stream() && o.includeUsage());
        assertEquals("someone", o.user());
        assertEquals(0.5, o.sampling().temperature());
        assertEquals(0, o.sampling().topK(), "-1 means all tokens");
        assertEquals(9L, o.sampling().seed());
        assertEquals(Map.of(5, -100f), o.sampling().logitBias());
        assertTrue(o.sampling().logprobs());
        assertEquals(2, o.sampling().topLogprobs());
        List<ChatMessage> m = r.messages();
        assertEquals("system", m.get(0).role(), "developer is OpenAI's newer name for system");
        assertEquals("a\nb", m.get(1).text());
        assertEquals("u1", m.get(1).name());
        assertNull(m.get(2).content());
        assertEquals("f", m.get(2).toolCalls().getFirst().name());
        assertEquals("c1", m.get(3).toolCallId());
    }

    @Test
    void defaultsAreOpenAisDefaults() {
        OpenAiRequests.Options o = OpenAiRequests.chat(body("{'model': 'm', 'messages': [{'role': 'user', 'content': 'x'}]}"))
                .options();
        assertEquals(1.0, o.sampling().temperature());
        assertEquals(1.0, o.sampling().topP());
        assertNull(o.maxTokens());
        assertNull(o.sampling().seed());
        assertEquals(1, o.n());
        assertFalse(o.stream());
        assertEquals(List.of(), o.stop());
    }

    @Test
    void refusalsNameTheField() {
        String ok = "'model': 'm', 'messages': [{'role': 'user', 'content': 'x'}]";
        assertEquals("model", chatParam("{'messages': [{'role': 'user', 'content': 'x'}]}"));
        assertEquals("messages", chatParam("{'model': 'm', 'messages': []}"));
        assertEquals("messages[0].content", chatParam("{'model': 'm', 'messages': [{'role': 'user'}]}"));
        assertEquals("messages[0].content[0].type", chatParam("{'model': 'm', 'messages': [{'role': 'user',"
                + " 'content': [{'type': 'image_url', 'image_url': {'url': 'x'}}]}]}"));
        assertEquals("messages[0].mood", chatParam("{'model': 'm', 'messages': [{'role': 'user', 'content': 'x',"
                + " 'mood': 'happy'}]}"));
        assertEquals("messages[0].tool_call_id", chatParam("{'model': 'm', 'messages': [{'role': 'tool', 'content': 'x'}]}"));
        assertEquals("max_tokens", chatParam("{" + ok + ", 'max_tokens': 5, 'max_completion_tokens': 6}"));
        assertEquals("top_logprobs", chatParam("{" + ok + ", 'top_logprobs': 2}"));
        assertEquals("top_logprobs", chatParam("{" + ok + ", 'logprobs': true, 'top_logprobs': 21}"));
        assertEquals("stream_options", chatParam("{" + ok + ", 'stream_options': {'include_usage': true}}"));
        assertEquals("stream_options.extra", chatParam("{" + ok + ", 'stream': true, 'stream_options': {'extra': 1}}"));
        assertEquals("tools", chatParam("{" + ok + ", 'tools': [{'type': 'function'}]}"));
        assertEquals("response_format", chatParam("{" + ok + ", 'response_format': {'type': 'json_object'}}"));
        assertEquals("n", chatParam("{" + ok + ", 'n': 0}"));
        assertEquals("seed", chatParam("{" + ok + ", 'seed': 1.5}"));
        assertEquals("logit_bias", chatParam("{" + ok + ", 'logit_bias': {'x': 1}}"));
        assertEquals("logit_bias", chatParam("{" + ok + ", 'logit_bias': {'3': 101}}"));
        assertEquals("presence_penalty", chatParam("{" + ok + ", 'presence_penalty': -2.5}"));
        assertEquals("min_p", chatParam("{" + ok + ", 'min_p': 2}"));
        assertEquals("stop", chatParam("{" + ok + ", 'stop': ''}"));
        assertEquals("stop", chatParam("{" + ok + ", 'stop': [" + "'a',".repeat(16) + "'b']}"));
        assertEquals("stream", chatParam("{" + ok + ", 'stream': 'yes'}"));
    }

    @Test
    void completionPromptsComeAsTextOrTokenIds() {
        assertEquals("hi", OpenAiRequests.text(body("{'model': 'm', 'prompt': 'hi'}")).prompt());
        assertEquals("hi", OpenAiRequests.text(body("{'model': 'm', 'prompt': ['hi']}")).prompt());
        assertArrayEquals(new int[]{1, 2, 3}, OpenAiRequests.text(body("{'model': 'm', 'prompt': [1, 2, 3]}")).promptIds());
        assertArrayEquals(new int[]{4}, OpenAiRequests.text(body("{'model': 'm', 'prompt': [[4]]}")).promptIds());
        OpenAiRequests.TextRequest r = OpenAiRequests.text(body("{'model': 'm', 'prompt': 'x', 'logprobs': 3, 'echo': false}"));
        assertTrue(r.options().sampling().logprobs());
        assertEquals(3, r.options().sampling().topLogprobs());
        for (String bad : List.of("{'model': 'm'}", "{'model': 'm', 'prompt': ''}", "{'model': 'm', 'prompt': ['a', 'b']}",
                "{'model': 'm', 'prompt': [1, -2]}", "{'model': 'm', 'prompt': 5}")) {
            assertEquals("prompt", assertThrows(ApiError.class, () -> OpenAiRequests.text(body(bad))).param(), bad);
        }
        assertEquals("echo", assertThrows(ApiError.class,
                () -> OpenAiRequests.text(body("{'model': 'm', 'prompt': 'x', 'echo': true}"))).param());
        assertEquals("logprobs", assertThrows(ApiError.class,
                () -> OpenAiRequests.text(body("{'model': 'm', 'prompt': 'x', 'logprobs': 6}"))).param());
    }

    @Test
    void bodiesThatAreNotJsonObjectsAreRefused() {
        ApiError e = assertThrows(ApiError.class, () -> OpenAiRequests.parseJson("{\"a\": ".getBytes(StandardCharsets.UTF_8)));
        assertEquals(400, e.status());
        assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
        assertThrows(ApiError.class, () -> OpenAiRequests.parseJson("\"text\"".getBytes(StandardCharsets.UTF_8)));
        assertThrows(ApiError.class, () -> OpenAiRequests.parseJson(new byte[0]));
    }
}
