package dev.herd.model.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A deterministic corpus of test strings aimed at the places tokenizers disagree: scripts with and without
 * case, combining marks (NFC), emoji sequences, digit runs, every kind of whitespace, contractions in odd
 * case, special-token text in the middle of words, code, and very long words.
 */
final class ReferenceStrings {
    private static final String[] WORDS = {
            "hello", "world", "The", "quick", "brown", "fox", "jumps", "über", "naïve", "café", "Straße", "façade",
            "ελληνικά", "Καλημέρα", "русский", "ПРИВЕТ", "Ёжик", "العربية", "مرحبا", "עברית", "שָׁלוֹם", "हिन्दी",
            "नमस्ते", "ไทย", "สวัสดีครับ", "한국어", "안녕하세요", "中文", "你好世界", "漢字", "日本語", "こんにちは", "カタカナ",
            "ｶﾀｶﾅ", "ქართული", "Հայերեն", "አማርኛ", "தமிழ்", "বাংলা", "ᚠᛇᚻ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝓗𝓮𝓵𝓵𝓸", "İstanbul", "ǅemal",
            "ΣΊΣΥΦΟΣ", "ﬁnance", "Ⅻ", "x²", "½", "µs", "Å", "ŉ", "ſtraße", "DŽungla", "ꙮ", "𐐷", "ñandú", "Việt", "Nguyễn",
            "tiếng", "ދިވެހި", "ⴰⵣⵓⵍ", "ᓀᐦᐃᔭᐍᐏᐣ", "𓀀𓁐", "🙂", "deepseek", "Qwen", "LLaMA", "tokenizer", "encode",
            "decode", "internationalization", "antidisestablishmentarianism", "x", "I", "a", "A", "éxito", "e\u0301xito",
            "E\u0301XITO"};
    private static final String[] EMOJI = {
            "😀", "👍", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇸", "1️⃣", "❤️", "🤷🏿‍♀️", "🧑🏻‍🤝‍🧑🏿", "🫠", "🦀",
            "✨", "🔥", "☃", "⚡", "🐈‍⬛", "©", "™", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"};
    private static final String[] PUNCT = {
            ".", ",", "!", "?", ";", ":", "...", "…", "—", "–", "-", "(", ")", "[", "]", "{", "}", "\"", "'", "«", "»",
            "“", "”", "‘", "’", "„", "。", "、", "！", "？", "：", "「", "」", "《", "》", "·", "•", "@", "#", "$", "%",
            "^", "&", "*", "_", "+", "=", "<", ">", "/", "\\", "|", "`", "~", "€", "£", "¥", "₿", "§", "¶", "°", "±",
            "×", "÷", "∑", "∫", "≤", "≠", "→", "⇒", "∀", "∃", "√", "∞", "♪", "☺", "<|", "|>", "</", "/>", "==", "!=",
            "->", "=>", "::", "&&", "||", "''", "\"\"", "`' "};
    private static final String[] SPACES = {
            " ", " ", " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", " \t ", "\u00A0",
            "\u3000", "\u2009", "\u200B", "\uFEFF", "\u0085", "\u2028", "\u202F", "\u000B", "\u000C", "  \n  ", "\n\n\n"};
    private static final String[] CONTRACTIONS = {
            "I'm", "I'M", "you're", "YOU'RE", "You'Re", "it's", "IT'S", "it'S", "we've", "WE'VE", "they'll",
            "THEY'LL", "They'Ll", "he'd", "HE'D", "can't", "CAN'T", "don't", "'s", "'S", "'t", "'ll", "'LL", "'d",
            "'D", "'m", "'re", "'ve", "'ſ", "’s", "o'clock", "rock'n'roll", "'tis", "y'all", "'", "''s"};
    private static final String[] SPECIALS = {
            "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|reserved_special_token_5|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>",
            "</tool_call>", "<think>", "</think>", "<|fim_prefix|>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
            "<｜User｜>", "<｜Assistant｜>", "<｜tool▁calls▁begin｜>", "<｜place▁holder▁no▁7｜>", "<s>", "</s>", "<unk>",
            "<|im_sta", "im_end|>", "<|<|im_end|>|>", "<s><s>", "</s></s>", "<<s>>", "<|EOT|>", "<|vision_start|>",
            "<tool_response>", "<Hello>", "<HELLO>", "<hello>"};
    private static final String[] CODE = {
            "public static void main(String[] args) {\n    System.out.println(\"hi\");\n}\n",
            "def f(x):\n\treturn x ** 2  # square\n\n\nprint(f(3))\n",
            "{\"key\": [1, 2.5, -3e10, null, true], \"nested\": {\"a\": \"b\"}}",
            "<div class=\"x\">&amp; &lt;tag&gt;</div>\n<br/>",
            "SELECT * FROM t WHERE id IN (1,2,3) AND name LIKE '%foo%';",
            "for (int i = 0; i < n; ++i) { a[i] += b[i] * c; }",
            "    if x:\n        y = [i for i in range(10) if i % 2 == 0]\n",
            "fn main() -> Result<(), Box<dyn Error>> { let v: Vec<u8> = vec![0xFF; 16]; Ok(()) }",
            "#include <stdio.h>\nint main(void){printf(\"%d\\n\", 42);}",
            "$ ls -la | grep '^d' | awk '{print $9}' > /dev/null 2>&1",
            "x = a?.b ?? c; y = `template ${x}`; z = /re[gex]+/gi;",
            "\t\t\tindented\n\t\tless\n\tleast\n"};
    private static final int[][] RANDOM_RANGES = {
            {0x20, 0x7E}, {0xA0, 0x24F}, {0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x6FF}, {0x900, 0x97F},
            {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x2000, 0x206F}, {0x2100, 0x22FF}, {0x2E80, 0x2FDF}, {0x3000, 0x30FF},
            {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3}, {0xFF00, 0xFFEF}, {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF},
            {0x20000, 0x2A6DF}, {0x0300, 0x036F}, {0x1D400, 0x1D7FF}, {0x0, 0x1F}};

    private ReferenceStrings() {
    }

    static List<String> generate(long seed, int count) {
        Random r = new Random(seed);
        List<String> out = new ArrayList<>(count);
        // fixed edge cases first
        out.add("");
        out.add(" ");
        out.add("\n");
        out.add("   leading and trailing   ");
        out.add("e\u0301 combining: Cafe\u0301, n\u0303, A\u030A, \u1100\u1161\u11A8 (jamo), \u0915\u094D\u0937");
        out.add("Hello world! I'M here, you'RE there; it'S fine. They'LL see.");
        out.add("1234567890 12345678901234567890 3.14159 1,000,000 ١٢٣٤٥ １２３ ²³ Ⅻ ½");
        out.add("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        out.add("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>");
        out.add("<｜begin▁of▁sentence｜><｜User｜>你好<｜Assistant｜>");
        out.add("<s>[INST] hi [/INST] hello</s>");
        out.add("a".repeat(3000));
        out.add("9".repeat(2000));
        out.add(" ".repeat(1000) + "x" + "\n".repeat(500));
        out.add("😀".repeat(500));
        out.add("漢".repeat(1500));
        out.add("antidisestablishmentarianism".repeat(200));
        out.add("\u00A0\u3000\u2009\uFEFF\u0085\u2028 mixed whitespace \t\u000B\u000C");
        while (out.size() < count) {
            int kind = r.nextInt(10);
            out.add(switch (kind) {
                case 0 -> words(r, 1 + r.nextInt(12));
                case 1 -> numbers(r);
                case 2 -> whitespaceHeavy(r);
                case 3 -> contractions(r);
                case 4 -> withSpecials(r);
                case 5 -> CODE[r.nextInt(CODE.length)] + (r.nextBoolean() ? words(r, 3) : "");
                case 6 -> randomCodePoints(r, 1 + r.nextInt(40));
                case 7 -> emoji(r);
                case 8 -> longWord(r);
                default -> mixture(r);
            });
        }
        return out;
    }

    private static <T> T pick(Random r, T[] a) {
        return a[r.nextInt(a.length)];
    }

    private static String words(Random r, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                sb.append(r.nextInt(5) == 0 ? pick(r, SPACES) : " ");
            }
            String w = pick(r, WORDS);
            sb.append(switch (r.nextInt(6)) {
                case 0 -> w.toUpperCase(java.util.Locale.ROOT);
                case 1 -> w + pick(r, PUNCT);
                case 2 -> pick(r, PUNCT) + w;
                default -> w;
            });
        }
        return sb.toString();
    }

    private static String numbers(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + r.nextInt(6);
        for (int i = 0; i < n; i++) {
            switch (r.nextInt(7)) {
                case 0 -> sb.append(r.nextInt(10));
                case 1 -> sb.append(Math.abs(r.nextLong()) % (long) Math.pow(10, 1 + r.nextInt(18)));
                case 2 -> sb.append(String.format(java.util.Locale.ROOT, "%.4f", r.nextDouble() * 1000));
                case 3 -> sb.append("v").append(r.nextInt(20)).append('.').append(r.nextInt(100)).append('.').append(r.nextInt(1000));
                case 4 -> sb.append("٠١٢٣٤٥٦٧٨٩".charAt(r.nextInt(10))).append("１２３".charAt(r.nextInt(3)));
                case 5 -> sb.append("0x").append(Long.toHexString(r.nextLong()));
                default -> sb.append(r.nextInt(100)).append(pick(r, new String[] {"%", "px", "kg", "€", "st", "th", ","}));
            }
            sb.append(r.nextBoolean() ? " " : pick(r, SPACES));
        }
        return sb.toString();
    }

    private static String whitespaceHeavy(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = 2 + r.nextInt(8);
        for (int i = 0; i < n; i++) {
            sb.append(pick(r, SPACES).repeat(1 + r.nextInt(3)));
            if (r.nextInt(3) > 0) {
                sb.append(r.nextBoolean() ? pick(r, WORDS) : pick(r, PUNCT));
            }
        }
        return sb.toString();
    }

    private static String contractions(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + r.nextInt(6);
        for (int i = 0; i < n; i++) {
            sb.append(pick(r, CONTRACTIONS));
            if (r.nextBoolean()) {
                sb.append(pick(r, CONTRACTIONS));
            }
            sb.append(r.nextInt(4) == 0 ? pick(r, PUNCT) : " ");
            if (r.nextBoolean()) {
                sb.append(pick(r, WORDS)).append(' ');
            }
        }
        return sb.toString();
    }

    private static String withSpecials(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + r.nextInt(5);
        for (int i = 0; i < n; i++) {
            switch (r.nextInt(4)) {
                case 0 -> sb.append(pick(r, SPECIALS));
                case 1 -> sb.append(' ').append(pick(r, SPECIALS)).append(' ');
                case 2 -> sb.append(pick(r, WORDS)).append(pick(r, SPECIALS)).append(pick(r, WORDS));
                default -> sb.append(pick(r, SPACES)).append(pick(r, SPECIALS)).append(pick(r, SPACES));
            }
            if (r.nextBoolean()) {
                sb.append(words(r, 1 + r.nextInt(3)));
            }
        }
        return sb.toString();
    }

    private static String randomCodePoints(Random r, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            int[] range = RANDOM_RANGES[r.nextInt(RANDOM_RANGES.length)];
            int cp = range[0] + r.nextInt(range[1] - range[0] + 1);
            if (Character.getType(cp) == Character.UNASSIGNED || Character.getType(cp) == Character.SURROGATE
                    || Character.getType(cp) == Character.PRIVATE_USE) {
                continue; // assigned characters only: Unicode versions may differ on the rest
            }
            sb.appendCodePoint(cp);
            if (r.nextInt(6) == 0) {
                sb.append(' ');
            }
        }
        return sb.toString();
    }

    private static String emoji(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + r.nextInt(8);
        for (int i = 0; i < n; i++) {
            sb.append(pick(r, EMOJI));
            switch (r.nextInt(4)) {
                case 0 -> sb.append(' ');
                case 1 -> sb.append(pick(r, WORDS));
                default -> { }
            }
        }
        return sb.toString();
    }

    private static String longWord(Random r) {
        int len = 100 + r.nextInt(1500);
        StringBuilder sb = new StringBuilder();
        switch (r.nextInt(4)) {
            case 0 -> {
                while (sb.length() < len) {
                    sb.append((char) ('a' + r.nextInt(26)));
                }
            }
            case 1 -> {
                while (sb.length() < len) {
                    sb.append(r.nextInt(10));
                }
            }
            case 2 -> {
                while (sb.length() < len) {
                    sb.append(pick(r, WORDS).replace(" ", ""));
                }
            }
            default -> {
                while (sb.length() < len) {
                    sb.append(pick(r, PUNCT));
                }
            }
        }
        return sb.toString();
    }

    private static String mixture(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = 2 + r.nextInt(6);
        for (int i = 0; i < n; i++) {
            sb.append(switch (r.nextInt(7)) {
                case 0 -> words(r, 1 + r.nextInt(4));
                case 1 -> numbers(r);
                case 2 -> pick(r, EMOJI);
                case 3 -> pick(r, CONTRACTIONS);
                case 4 -> pick(r, SPACES);
                case 5 -> pick(r, SPECIALS);
                default -> randomCodePoints(r, 5);
            });
        }
        return sb.toString();
    }
}
