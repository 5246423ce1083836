package dev.herd.model.tokenizer;

import java.util.List;

/**
 * Text to token ids and back, matching the model's reference tokenizer id for id. Implementations are
 * immutable and safe to share between threads; a {@link StreamingDecoder} is per sequence.
 */
public interface Tokenizer {

    /**
     * Encodes text with special tokens in it recognised as such (Hugging Face's default): "&lt;|im_end|&gt;"
     * in the text becomes that one control token.
     *
     * @param addSpecialTokens whether to add what the model's template puts around a sequence (BOS)
     */
    default int[] encode(String text, boolean addSpecialTokens) {
        return encode(text, addSpecialTokens, true);
    }

    /**
     * @param parseSpecialTokens false to treat the text of special (control) tokens as ordinary characters,
     *                           for untrusted text that must not be able to forge control tokens; added
     *                           tokens that are not special are still matched
     */
    int[] encode(String text, boolean addSpecialTokens, boolean parseSpecialTokens);

    /** Decodes ids to text, special tokens included; ill-formed UTF-8 becomes U+FFFD as the reference does. */
    default String decode(int[] ids) {
        return decode(ids, false);
    }

    String decode(int[] ids, boolean skipSpecialTokens);

    /** A decoder for one generated sequence, fed one id at a time. */
    StreamingDecoder streamingDecoder(boolean skipSpecialTokens);

    /** One more than the largest token id, added tokens included. */
    int vocabSize();

    /** The id of a token given by its vocabulary spelling (added tokens included), or -1. */
    int tokenId(String token);

    /** The vocabulary spelling of an id (byte-level alphabet for byte-level models), or null. */
    String tokenText(int id);

    /** Whether the id is a special (control) token. */
    boolean isSpecial(int id);

    /** The beginning-of-sequence id, or -1 when the model has none. */
    int bosId();

    /** The end-of-sequence id, or -1 when the model has none. */
    int eosId();

    /** Whether {@code encode(text, true)} puts {@link #bosId()} first. */
    boolean addsBos();

    /** The tokens matched whole in text before the model runs. */
    List<AddedToken> addedTokens();
}
