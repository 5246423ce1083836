package dev.herd.model.tokenizer;

/**
 * A token matched as a whole in the input before the model sees it (an entry of {@code added_tokens}).
 *
 * @param id          its id
 * @param content     its text
 * @param special     a control token: skipped by {@code decode(ids, true)}, and matched in text only when
 *                    special tokens are parsed
 * @param singleWord  matched only where no word character touches it on either side
 * @param lstrip      swallows the whitespace on its left
 * @param rstrip      swallows the whitespace on its right
 * @param normalized  matched against the normalized text rather than the raw input
 */
public record AddedToken(int id, String content, boolean special, boolean singleWord, boolean lstrip, boolean rstrip,
                         boolean normalized) {
    public AddedToken {
        if (content == null || content.isEmpty()) {
            throw new IllegalArgumentException("added token " + id + " has no content");
        }
    }

    /** A special token with no stripping, matched in the raw text: what most chat models declare. */
    public static AddedToken special(int id, String content) {
        return new AddedToken(id, content, true, false, false, false, false);
    }
}
