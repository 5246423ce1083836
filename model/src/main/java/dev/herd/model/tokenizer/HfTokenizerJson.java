package dev.herd.model.tokenizer;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.herd.model.weights.ModelFormatException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/** Reads a Hugging Face {@code tokenizer.json} (and optionally {@code tokenizer_config.json}) into a tokenizer. */
final class HfTokenizerJson {
    /**
     * Tokenizer classes whose constructor in transformers rebuilds the post-processor from add_bos_token and
     * add_eos_token (defaults true and false), overriding the template in tokenizer.json. DeepSeek V3 ships a
     * plain ByteLevel post-processor and relies on this for its BOS.
     */
    private static final Set<String> BOS_FROM_CONFIG_CLASSES = Set.of(
            "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String file;

    private HfTokenizerJson(String file) {
        this.file = file;
    }

    static BpeTokenizer load(Path tokenizerJson, Path tokenizerConfigJson) {
        TokenizerConfig config = tokenizerConfigJson == null ? TokenizerConfig.empty()
                : readConfig(tokenizerConfigJson, readJson(tokenizerConfigJson));
        HfTokenizerJson reader = new HfTokenizerJson(tokenizerJson.toString());
        ObjectNode root = JSON.createObjectNode();
        ModelSection model;
        try (InputStream in = Files.newInputStream(tokenizerJson); JsonParser p = JSON.createParser(in)) {
            model = reader.readTopLevel(p, root);
        } catch (IOException e) {
            throw new ModelFormatException(tokenizerJson + ": cannot read as JSON: " + e.getMessage(), e);
        }
        return reader.build(root, model, config);
    }

    /** The model section, its vocabulary and merges read as a stream (they are most of the file). */
    private record ModelSection(ObjectNode settings, Map<String, Integer> vocab, List<String[]> merges) {
    }

    /**
     * Reads the document into {@code rest} as a tree, except model.vocab and model.merges: a tree of a few
     * hundred thousand merge nodes would take longer to build than the tokenizer itself.
     */
    private ModelSection readTopLevel(JsonParser p, ObjectNode rest) throws IOException {
        if (p.nextToken() != JsonToken.START_OBJECT) {
            throw bad("(root)", "not a JSON object");
        }
        ModelSection model = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            p.nextToken();
            if (name.equals("model") && p.currentToken() == JsonToken.START_OBJECT) {
                model = readModel(p);
            } else {
                rest.set(name, p.readValueAsTree());
            }
        }
        if (model == null) {
            throw bad("model", "missing");
        }
        return model;
    }

    private ModelSection readModel(JsonParser p) throws IOException {
        ObjectNode settings = JSON.createObjectNode();
        Map<String, Integer> vocab = new HashMap<>();
        List<String[]> merges = new ArrayList<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            JsonToken value = p.nextToken();
            if (name.equals("vocab") && value == JsonToken.START_OBJECT) {
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String token = p.currentName();
                    if (p.nextToken() != JsonToken.VALUE_NUMBER_INT) {
                        throw bad("model.vocab." + token, "id is not an integer");
                    }
                    vocab.put(token, p.getIntValue());
                }
            } else if (name.equals("merges") && value == JsonToken.START_ARRAY) {
                JsonToken t;
                while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                    merges.add(readMerge(p, t, merges.size()));
                }
            } else {
                settings.set(name, p.readValueAsTree());
            }
        }
        if (!settings.has("vocab") && vocab.isEmpty()) {
            throw bad("model.vocab", "missing or not an object");
        }
        return new ModelSection(settings, vocab, merges);
    }

    private String[] readMerge(JsonParser p, JsonToken t, int index) throws IOException {
        if (t == JsonToken.VALUE_STRING) {
            String s = p.getText();
            int space = s.indexOf(' ', 1);
            if (space < 0) {
                throw bad("model.merges[" + index + "]", "'" + s + "' is not two tokens separated by a space");
            }
            return new String[] {s.substring(0, space), s.substring(space + 1)};
        }
        if (t == JsonToken.START_ARRAY && p.nextToken() == JsonToken.VALUE_STRING) {
            String a = p.getText();
            if (p.nextToken() == JsonToken.VALUE_STRING) {
                String b = p.getText();
                if (p.nextToken() == JsonToken.END_ARRAY) {
                    return new String[] {a, b};
                }
            }
        }
        throw bad("model.merges[" + index + "]", "neither \"a b\" nor [a, b]");
    }

    private static JsonNode readJson(Path path) {
        try {
            return JSON.readTree(Files.newInputStream(path));
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read as JSON: " + e.getMessage(), e);
        }
    }

    private ModelFormatException bad(String field, String problem) {
        return new ModelFormatException(file + ": " + field + ": " + problem);
    }

    private BpeTokenizer build(JsonNode root, ModelSection modelSection, TokenizerConfig config) {
        Normalizer normalizer = normalizer(root.path("normalizer"), "normalizer");
        PreTokenizer preTokenizer = preTokenizer(root.path("pre_tokenizer"), "pre_tokenizer");
        TokenModel model = model(modelSection);
        List<AddedToken> addedTokens = addedTokens(root.path("added_tokens"));
        Map<String, Integer> ids = new HashMap<>();
        for (AddedToken t : addedTokens) {
            ids.putIfAbsent(t.content(), t.id());
        }
        java.util.function.ToIntFunction<String> idOf = text -> {
            Integer id = ids.get(text);
            return id != null ? id : model.tokenId(text);
        };
        int[][] template = postProcessor(root.path("post_processor"), "post_processor");
        int[] prefix = template[0];
        int[] suffix = template[1];
        if (config.tokenizerClass() != null && BOS_FROM_CONFIG_CLASSES.contains(config.tokenizerClass())) {
            boolean addBos = config.addBosToken() == null || config.addBosToken();
            boolean addEos = config.addEosToken() != null && config.addEosToken();
            prefix = addBos ? new int[] {requireToken(config.bosToken(), "bos_token", idOf)} : new int[0];
            suffix = addEos ? new int[] {requireToken(config.eosToken(), "eos_token", idOf)} : new int[0];
        }
        int bos = config.bosToken() != null ? idOf.applyAsInt(config.bosToken()) : prefix.length == 1 ? prefix[0] : -1;
        int eos = config.eosToken() != null ? idOf.applyAsInt(config.eosToken()) : suffix.length == 1 ? suffix[0] : -1;
        Decoder decoder = decoder(root.path("decoder"), "decoder");
        return new BpeTokenizer(addedTokens, normalizer, preTokenizer, model, prefix, suffix, decoder, bos, eos, config);
    }

    private int requireToken(String text, String field, java.util.function.ToIntFunction<String> idOf) {
        if (text == null) {
            throw bad("tokenizer_config " + field, "needed to add it to sequences, but not set");
        }
        int id = idOf.applyAsInt(text);
        if (id < 0) {
            throw bad("tokenizer_config " + field, "'" + text + "' is not a token");
        }
        return id;
    }

    private TokenModel model(ModelSection section) {
        JsonNode m = section.settings();
        String type = m.path("type").asText("BPE");
        if (!type.equals("BPE")) {
            throw bad("model.type", "'" + type + "' is not supported (only BPE)");
        }
        if (!m.path("dropout").isNull() && !m.path("dropout").isMissingNode() && m.path("dropout").asDouble() != 0) {
            throw bad("model.dropout", "BPE dropout is for training; a tokenizer for inference must not set it");
        }
        return new BpeModel(section.vocab(), section.merges(), textOrNull(m.path("unk_token")),
                m.path("byte_fallback").asBoolean(false), m.path("fuse_unk").asBoolean(false),
                m.path("ignore_merges").asBoolean(false), textOrNull(m.path("continuing_subword_prefix")),
                textOrNull(m.path("end_of_word_suffix")), file);
    }

    private static String textOrNull(JsonNode n) {
        return n.isTextual() ? n.asText() : null;
    }

    private List<AddedToken> addedTokens(JsonNode list) {
        List<AddedToken> out = new ArrayList<>();
        int i = 0;
        for (JsonNode t : list) {
            if (!t.path("id").canConvertToInt() || !t.path("content").isTextual() || t.path("content").asText().isEmpty()) {
                throw bad("added_tokens[" + i + "]", "needs an integer id and a non-empty content");
            }
            out.add(new AddedToken(t.path("id").asInt(), t.path("content").asText(), t.path("special").asBoolean(false),
                    t.path("single_word").asBoolean(false), t.path("lstrip").asBoolean(false),
                    t.path("rstrip").asBoolean(false), t.path("normalized").asBoolean(!t.path("special").asBoolean(false))));
            i++;
        }
        return out;
    }

    private Pattern pattern(JsonNode p, String field) {
        if (p.has("String")) {
            return HfRegex.literal(p.path("String").asText());
        }
        if (p.has("Regex")) {
            return HfRegex.compile(p.path("Regex").asText(), file + ": " + field);
        }
        throw bad(field, "needs String or Regex");
    }

    private Normalizer normalizer(JsonNode n, String field) {
        if (n.isMissingNode() || n.isNull()) {
            return new Normalizer.Identity();
        }
        String type = n.path("type").asText();
        return switch (type) {
            case "NFC" -> new Normalizer.UnicodeForm(java.text.Normalizer.Form.NFC);
            case "NFD" -> new Normalizer.UnicodeForm(java.text.Normalizer.Form.NFD);
            case "NFKC" -> new Normalizer.UnicodeForm(java.text.Normalizer.Form.NFKC);
            case "NFKD" -> new Normalizer.UnicodeForm(java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> new Normalizer.Lowercase();
            case "Prepend" -> new Normalizer.Prepend(n.path("prepend").asText());
            case "Replace" -> new Normalizer.Replace(pattern(n.path("pattern"), field + ".pattern"), n.path("content").asText());
            case "Sequence" -> {
                List<Normalizer> steps = new ArrayList<>();
                int i = 0;
                for (JsonNode step : n.path("normalizers")) {
                    steps.add(normalizer(step, field + ".normalizers[" + i++ + "]"));
                }
                yield new Normalizer.Sequence(steps);
            }
            default -> throw bad(field + ".type", "'" + type + "' is not supported");
        };
    }

    private PreTokenizer preTokenizer(JsonNode n, String field) {
        if (n.isMissingNode() || n.isNull()) {
            return new PreTokenizer.Sequence(List.of());
        }
        String type = n.path("type").asText();
        return switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> stages = new ArrayList<>();
                int i = 0;
                for (JsonNode step : n.path("pretokenizers")) {
                    stages.add(preTokenizer(step, field + ".pretokenizers[" + i++ + "]"));
                }
                yield new PreTokenizer.Sequence(stages);
            }
            case "Split" -> new PreTokenizer.Split(pattern(n.path("pattern"), field + ".pattern"),
                    behavior(n.path("behavior").asText(), field + ".behavior"), n.path("invert").asBoolean(false));
            case "ByteLevel" -> new PreTokenizer.ByteLevel(n.path("add_prefix_space").asBoolean(true),
                    n.path("use_regex").asBoolean(true));
            case "Digits" -> new PreTokenizer.Digits(n.path("individual_digits").asBoolean(false));
            case "Metaspace" -> {
                String scheme = n.path("prepend_scheme").asText(n.path("add_prefix_space").asBoolean(true) ? "always" : "never");
                PreTokenizer.Metaspace.Prepend prepend = switch (scheme) {
                    case "always" -> PreTokenizer.Metaspace.Prepend.ALWAYS;
                    case "first" -> PreTokenizer.Metaspace.Prepend.FIRST;
                    case "never" -> PreTokenizer.Metaspace.Prepend.NEVER;
                    default -> throw bad(field + ".prepend_scheme", "'" + scheme + "' is not always, first or never");
                };
                yield new PreTokenizer.Metaspace(n.path("replacement").asText("\u2581"), prepend, n.path("split").asBoolean(true));
            }
            default -> throw bad(field + ".type", "'" + type + "' is not supported");
        };
    }

    private PreTokenizer.Behavior behavior(String name, String field) {
        return switch (name) {
            case "Removed" -> PreTokenizer.Behavior.REMOVED;
            case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
            case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
            default -> throw bad(field, "'" + name + "' is not a split behavior");
        };
    }

    /** {prefix ids, suffix ids} that the single-sequence template puts around the text. */
    private int[][] postProcessor(JsonNode n, String field) {
        if (n.isMissingNode() || n.isNull()) {
            return new int[][] {new int[0], new int[0]};
        }
        String type = n.path("type").asText();
        switch (type) {
            case "ByteLevel":
                return new int[][] {new int[0], new int[0]};
            case "Sequence": {
                // each processor wraps the output of the previous ones
                int[] pre = new int[0];
                IntArrayBuilder post = new IntArrayBuilder(2);
                int i = 0;
                for (JsonNode p : n.path("processors")) {
                    int[][] t = postProcessor(p, field + ".processors[" + i++ + "]");
                    int[] wrapped = java.util.Arrays.copyOf(t[0], t[0].length + pre.length);
                    System.arraycopy(pre, 0, wrapped, t[0].length, pre.length);
                    pre = wrapped;
                    post.addAll(t[1]);
                }
                return new int[][] {pre, post.toArray()};
            }
            case "TemplateProcessing": {
                Map<String, int[]> specials = new LinkedHashMap<>();
                for (Map.Entry<String, JsonNode> e : n.path("special_tokens").properties()) {
                    JsonNode idsNode = e.getValue().path("ids");
                    int[] ids = new int[idsNode.size()];
                    for (int k = 0; k < ids.length; k++) {
                        ids[k] = idsNode.get(k).asInt();
                    }
                    specials.put(e.getKey(), ids);
                }
                IntArrayBuilder pre = new IntArrayBuilder(2);
                IntArrayBuilder post = new IntArrayBuilder(2);
                boolean seenSequence = false;
                int i = 0;
                for (JsonNode item : n.path("single")) {
                    if (item.has("Sequence")) {
                        seenSequence = true;
                    } else if (item.has("SpecialToken")) {
                        String id = item.path("SpecialToken").path("id").asText();
                        int[] ids = specials.get(id);
                        if (ids == null) {
                            throw bad(field + ".single[" + i + "]", "special token '" + id + "' not in special_tokens");
                        }
                        (seenSequence ? post : pre).addAll(ids);
                    } else {
                        throw bad(field + ".single[" + i + "]", "neither Sequence nor SpecialToken");
                    }
                    i++;
                }
                return new int[][] {pre.toArray(), post.toArray()};
            }
            default:
                throw bad(field + ".type", "'" + type + "' is not supported");
        }
    }

    private Decoder decoder(JsonNode n, String field) {
        if (n.isMissingNode() || n.isNull()) {
            throw bad(field, "missing; a tokenizer without a decoder is not supported");
        }
        String type = n.path("type").asText();
        return switch (type) {
            case "ByteLevel" -> new Decoder.ByteLevel();
            case "ByteFallback" -> new Decoder.ByteFallback();
            case "Fuse" -> new Decoder.Fuse();
            case "Replace" -> new Decoder.Replace(pattern(n.path("pattern"), field + ".pattern"), n.path("content").asText());
            case "Strip" -> {
                String content = n.path("content").asText(" ");
                if (content.codePointCount(0, content.length()) != 1) {
                    throw bad(field + ".content", "must be one character");
                }
                yield new Decoder.Strip(content.codePointAt(0), n.path("start").asInt(0), n.path("stop").asInt(0));
            }
            case "Metaspace" -> {
                String replacement = n.path("replacement").asText("\u2581");
                String scheme = n.path("prepend_scheme").asText(n.path("add_prefix_space").asBoolean(true) ? "always" : "never");
                yield new Decoder.Metaspace(replacement.codePointAt(0), !scheme.equals("never"));
            }
            case "Sequence" -> {
                List<Decoder> steps = new ArrayList<>();
                int i = 0;
                for (JsonNode step : n.path("decoders")) {
                    steps.add(decoder(step, field + ".decoders[" + i++ + "]"));
                }
                yield new Decoder.Sequence(steps);
            }
            default -> throw bad(field + ".type", "'" + type + "' is not supported");
        };
    }

    private static TokenizerConfig readConfig(Path path, JsonNode c) {
        if (!c.isObject()) {
            throw new ModelFormatException(path + ": not a JSON object");
        }
        String defaultTemplate = null;
        Map<String, String> named = new LinkedHashMap<>();
        JsonNode t = c.path("chat_template");
        if (t.isTextual()) {
            defaultTemplate = t.asText();
        } else if (t.isArray()) {
            for (JsonNode entry : t) {
                named.put(entry.path("name").asText(), entry.path("template").asText());
            }
            defaultTemplate = named.get("default");
        }
        return new TokenizerConfig(bool(c.path("add_bos_token")), bool(c.path("add_eos_token")),
                tokenText(c.path("bos_token")), tokenText(c.path("eos_token")), tokenText(c.path("pad_token")),
                tokenText(c.path("unk_token")), c.path("tokenizer_class").isTextual() ? c.path("tokenizer_class").asText() : null,
                defaultTemplate, named);
    }

    private static Boolean bool(JsonNode n) {
        return n.isBoolean() ? n.asBoolean() : null;
    }

    /** A special token in tokenizer_config.json: a string, or an AddedToken object with "content". */
    private static String tokenText(JsonNode n) {
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isObject() && n.path("content").isTextual()) {
            return n.path("content").asText();
        }
        return null;
    }
}
