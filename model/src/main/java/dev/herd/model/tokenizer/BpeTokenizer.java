package dev.herd.model.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A BPE tokenizer assembled from the stages of a Hugging Face {@code tokenizer.json} (or the equivalent
 * stages for a GGUF vocabulary): added tokens are cut out of the text first, the rest is normalized,
 * pre-tokenized into pieces and each piece run through the model; the post-processor's template then adds
 * BOS/EOS. Decoding runs the decoder steps over the token strings.
 */
public final class BpeTokenizer implements Tokenizer {
    private final AddedVocabulary added;
    private final Map<String, Integer> addedByContent = new HashMap<>();
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final TokenModel model;
    private final int[] prefix;
    private final int[] suffix;
    private final Decoder decoder;
    private final StreamingDecoder.StreamingProfile streamingProfile;
    private final int bosId;
    private final int eosId;
    private final int vocabSize;
    private final TokenizerConfig config;
    /** Text each added token contributes to decoding: its normalized form where normalization changes it. */
    private final Map<Integer, String> addedDecodingText = new HashMap<>();

    BpeTokenizer(List<AddedToken> addedTokens, Normalizer normalizer, PreTokenizer preTokenizer, TokenModel model,
                 int[] prefix, int[] suffix, Decoder decoder, int bosId, int eosId, TokenizerConfig config) {
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.model = model;
        this.prefix = prefix.clone();
        this.suffix = suffix.clone();
        this.decoder = decoder;
        this.streamingProfile = StreamingDecoder.StreamingProfile.of(decoder);
        this.added = new AddedVocabulary(addedTokens, normalizer);
        int size = model.size();
        for (AddedToken t : addedTokens) {
            addedByContent.putIfAbsent(t.content(), t.id());
            addedDecodingText.put(t.id(), t.normalized() ? normalizer.normalize(t.content()) : t.content());
            size = Math.max(size, t.id() + 1);
        }
        this.vocabSize = size;
        this.bosId = bosId;
        this.eosId = eosId;
        this.config = config;
    }

    /**
     * What the tokenizer's configuration said: tokenizer_config.json for Hugging Face files (empty without
     * one), the GGUF keys for GGUF vocabularies.
     */
    public TokenizerConfig config() {
        return config;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens, boolean parseSpecialTokens) {
        IntArrayBuilder out = new IntArrayBuilder(text.length() / 3 + 4);
        if (addSpecialTokens) {
            out.addAll(prefix);
        }
        List<String> pieces = new ArrayList<>();
        boolean atStart = true;
        for (AddedVocabulary.Segment segment : added.split(text, normalizer, parseSpecialTokens)) {
            if (segment.token() != null) {
                out.add(segment.token().id());
                atStart = false;
                continue;
            }
            pieces.clear();
            preTokenizer.split(segment.text(), atStart, pieces);
            atStart = false;
            for (String piece : pieces) {
                model.tokenize(piece, out);
            }
        }
        if (addSpecialTokens) {
            out.addAll(suffix);
        }
        return out.toArray();
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            if (skipSpecialTokens && isSpecial(id)) {
                continue;
            }
            String text = decodingText(id);
            if (text != null) {
                tokens.add(text); // unknown ids are skipped, as the reference does
            }
        }
        return String.join("", decoder.decodeChain(tokens));
    }

    /** The string an id stands for in decoding, or null for an id the vocabulary lacks. */
    String decodingText(int id) {
        String addedText = addedDecodingText.get(id);
        return addedText != null ? addedText : model.tokenText(id);
    }

    StreamingDecoder.StreamingProfile streamingProfile() {
        return streamingProfile;
    }

    @Override
    public StreamingDecoder streamingDecoder(boolean skipSpecialTokens) {
        return new StreamingDecoder(this, skipSpecialTokens);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int tokenId(String token) {
        Integer id = addedByContent.get(token);
        return id != null ? id : model.tokenId(token);
    }

    @Override
    public String tokenText(int id) {
        AddedToken t = added.byId(id);
        return t != null ? t.content() : model.tokenText(id);
    }

    @Override
    public boolean isSpecial(int id) {
        AddedToken t = added.byId(id);
        return t != null && t.special();
    }

    @Override
    public int bosId() {
        return bosId;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    @Override
    public boolean addsBos() {
        return bosId >= 0 && prefix.length > 0 && prefix[0] == bosId;
    }

    @Override
    public List<AddedToken> addedTokens() {
        List<AddedToken> all = new ArrayList<>(added.all());
        all.sort(java.util.Comparator.comparingInt(AddedToken::id));
        return all;
    }
}
