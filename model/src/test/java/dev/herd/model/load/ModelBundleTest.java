package dev.herd.model.load;

import dev.herd.kernels.DType;
import dev.herd.model.chat.ChatMessage;
import dev.herd.model.config.Architecture;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.model.testmodel.TestTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A generated model opened as a Hugging Face directory and as GGUF: the same tokenizer and chat template. */
class ModelBundleTest {
    @TempDir
    Path tmp;

    @Test
    void huggingFaceAndGgufBundlesTokenizeAndRenderAlike() {
        TestModelSpec spec = TestModelSpec.small(Architecture.QWEN3_MOE);
        TestModelWriter writer = new TestModelWriter(spec);
        Path hf = writer.writeHuggingFace(tmp.resolve("hf"), DType.BF16, TestModelWriter.DEFAULT_MAX_SHARD_BYTES);
        Path gguf = writer.writeGguf(tmp.resolve("m.gguf"), DType.Q8_0);
        try (ModelBundle a = ModelBundle.open(hf); ModelBundle b = ModelBundle.open(gguf)) {
            List<ChatMessage> chat = List.of(ChatMessage.system("Be brief."), ChatMessage.user("What is 12 + 345?"));
            String ra = a.chatTemplate().orElseThrow().render(chat, true, Map.of());
            String rb = b.chatTemplate().orElseThrow().render(chat, true, Map.of());
            assertEquals(ra, rb);
            assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 12 + 345?<|im_end|>\n"
                    + "<|im_start|>assistant\n", ra);
            for (String s : List.of(ra, "The quick brown fox, numbers 6789 and café 🦊!", "  spaces\n\nand\ttabs  ")) {
                int[] ids = a.tokenizer().encode(s, false);
                assertArrayEquals(ids, b.tokenizer().encode(s, false), s);
                assertEquals(s, a.tokenizer().decode(ids), "round trip");
            }
            int imStart = a.tokenizer().tokenId("<|im_start|>");
            assertTrue(a.tokenizer().isSpecial(imStart));
            assertEquals(imStart, a.tokenizer().encode(ra, false)[0], "special tokens in the template are matched whole");
            TestTokenizer tok = writer.tokenizer();
            assertEquals(tok.eosId(), a.tokenizer().eosId());
            assertEquals(tok.eosId(), b.tokenizer().eosId());
        }
    }
}
