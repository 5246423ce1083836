package dev.herd.model.tokenizer;

/** Turns one pre-tokenized piece into token ids (Hugging Face's {@code model} section, or llama.cpp's SPM). */
sealed interface TokenModel permits BpeModel, SentencePieceBpeModel {
    void tokenize(String piece, IntArrayBuilder out);

    /** The id of a vocabulary entry, or -1. */
    int tokenId(String token);

    /** The vocabulary entry of an id, or null. */
    String tokenText(int id);

    /** One more than the largest id. */
    int size();
}
