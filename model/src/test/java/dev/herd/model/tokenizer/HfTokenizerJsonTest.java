package dev.herd.model.tokenizer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfTokenizerJsonTest {
    @TempDir
    Path dir;

    @Test
    void mergesAsStringsOrPairsGiveTheSameTokenizer() throws IOException {
        ObjectNode strings = TinyTokenizers.byteLevel(new String[] {"h e", "l l", "he ll", "hell o"});
        ObjectNode pairs = strings.deepCopy();
        com.fasterxml.jackson.databind.node.ArrayNode merges = ((ObjectNode) pairs.path("model")).putArray("merges");
        for (String m : new String[] {"h e", "l l", "he ll", "hell o"}) {
            merges.addArray().add(m.split(" ")[0]).add(m.split(" ")[1]);
        }
        BpeTokenizer a = TinyTokenizers.load(strings, dir);
        Path other = Files.createDirectory(dir.resolve("pairs"));
        BpeTokenizer b = TinyTokenizers.load(pairs, other);
        int hello = a.tokenId("hello");
        assertArrayEquals(new int[] {hello, ' ', a.tokenId("hell")}, a.encode("hello hell", false));
        assertArrayEquals(a.encode("hello hell", false), b.encode("hello hell", false));
        assertEquals("hello hell", a.decode(a.encode("hello hell", false)));
    }

    @Test
    void configDecidesBosForLlamaTokenizerClasses() throws IOException {
        ObjectNode json = TinyTokenizers.byteLevel(new String[0], "<bos>", "<eos>");
        Path tokenizer = dir.resolve("tokenizer.json");
        TinyTokenizers.JSON.writeValue(tokenizer.toFile(), json);
        Path config = dir.resolve("tokenizer_config.json");
        Files.writeString(config, """
                {"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": true,
                 "bos_token": {"content": "<bos>", "lstrip": false}, "eos_token": "<eos>",
                 "chat_template": [{"name": "default", "template": "{{ messages }}"}, {"name": "tool_use", "template": "T"}]}""");
        BpeTokenizer t = Tokenizers.fromHuggingFaceDirectory(dir);
        int bos = t.tokenId("<bos>");
        assertTrue(t.addsBos());
        assertEquals(bos, t.bosId());
        assertEquals(t.tokenId("<eos>"), t.eosId());
        assertArrayEquals(new int[] {bos, 'h', 'i'}, t.encode("hi", true));
        assertArrayEquals(new int[] {'h', 'i'}, t.encode("hi", false));
        assertEquals("{{ messages }}", t.config().chatTemplate());
        assertEquals("T", t.config().chatTemplates().get("tool_use"));
        assertTrue(t.isSpecial(bos));
        assertFalse(t.isSpecial('h'));
        assertEquals("hi", t.decode(t.encode("hi", true), true));

        Files.writeString(config, """
                {"tokenizer_class": "Qwen2Tokenizer", "add_bos_token": true, "bos_token": null, "eos_token": "<eos>"}""");
        BpeTokenizer qwenLike = Tokenizers.fromHuggingFaceDirectory(dir);
        assertFalse(qwenLike.addsBos(), "only Llama tokenizer classes rebuild the template");
        assertEquals(-1, qwenLike.bosId());
        assertNull(qwenLike.config().chatTemplate());
    }

    @Test
    void unsupportedOrBrokenFilesNameTheFileAndField() throws IOException {
        ObjectNode unigram = TinyTokenizers.byteLevel(new String[0]);
        ((ObjectNode) unigram.path("model")).put("type", "Unigram");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> TinyTokenizers.load(unigram, dir));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("model.type"), e.getMessage());

        ObjectNode badMerge = TinyTokenizers.byteLevel(new String[] {"h e"});
        ((com.fasterxml.jackson.databind.node.ArrayNode) badMerge.path("model").path("merges")).add("x NOPE");
        e = assertThrows(ModelFormatException.class, () -> TinyTokenizers.load(badMerge, dir));
        assertTrue(e.getMessage().contains("merge 1"), e.getMessage());

        ObjectNode badRegex = TinyTokenizers.byteLevel(new String[0]);
        badRegex.set("pre_tokenizer", TinyTokenizers.JSON.readTree(
                "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\", \"invert\": false}"));
        e = assertThrows(ModelFormatException.class, () -> TinyTokenizers.load(badRegex, dir));
        assertTrue(e.getMessage().contains("pre_tokenizer.pattern"), e.getMessage());

        ObjectNode whitespace = TinyTokenizers.byteLevel(new String[0]);
        whitespace.set("pre_tokenizer", TinyTokenizers.JSON.readTree("{\"type\": \"Whitespace\"}"));
        e = assertThrows(ModelFormatException.class, () -> TinyTokenizers.load(whitespace, dir));
        assertTrue(e.getMessage().contains("pre_tokenizer.type") && e.getMessage().contains("Whitespace"), e.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": ");
        e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromHuggingFaceDirectory(dir));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());

        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertThrows(ModelFormatException.class, () -> Tokenizers.fromHuggingFaceDirectory(empty));
    }

    @Test
    void unparsedSpecialTokenTextIsEncodedAsCharacters() throws IOException {
        BpeTokenizer t = TinyTokenizers.load(TinyTokenizers.byteLevel(new String[0], "<|x|>"), dir);
        int x = t.tokenId("<|x|>");
        assertArrayEquals(new int[] {'a', x}, t.encode("a<|x|>", false));
        assertArrayEquals(TinyTokenizers.bytes("a<|x|>"), t.encode("a<|x|>", false, false));
    }
}
