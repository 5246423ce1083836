package dev.herd.model.tokenizer;

/** Turns one pre-tokenized piece into token ids (Hugging Face's {@code model} section, or llama.cpp's SPM). */
sealed interface TokenModel permits BpeModel, SentencePieceBpeModel {
    void tokenize(String piece, IntArrayBuilder out);

    TokenVocabulary vocabulary();

    /** The id of a vocabulary entry, or -1. */
    default int tokenId(String token) {
        return vocabulary().id(token);
    }

    /** The vocabulary entry of an id, or null. */
    default String tokenText(int id) {
        return vocabulary().entry(id);
    }

    /** One more than the largest id. */
    default int size() {
        return vocabulary().size();
    }
}
