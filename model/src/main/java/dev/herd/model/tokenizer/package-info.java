/**
 * Tokenizers that give the same ids as the model's reference implementation.
 *
 * <ul>
 *   <li>{@link dev.herd.model.tokenizer.Tokenizers#fromHuggingFaceDirectory} reads {@code tokenizer.json} (BPE
 *       models: byte-level like Llama 3/4, Qwen2/3, DeepSeek V3, or SentencePiece-style with byte fallback like
 *       Mistral/Mixtral and Llama 2) and {@code tokenizer_config.json}; ids match Hugging Face's Rust
 *       {@code tokenizers}, which TokenizerReferenceTest checks string by string.</li>
 *   <li>{@link dev.herd.model.tokenizer.Tokenizers#fromGguf} builds what llama.cpp runs for a GGUF file's
 *       {@code tokenizer.ggml.*} metadata, given as a {@link dev.herd.model.tokenizer.GgufVocabulary}.</li>
 *   <li>{@link dev.herd.model.tokenizer.StreamingDecoder} turns generated ids into text one id at a time without
 *       ever returning half a character.</li>
 * </ul>
 *
 * <p>Tokenizers are immutable and thread-safe. Special tokens in text are matched unless the caller asks
 * otherwise ({@code encode(text, addSpecial, false)}), which is what untrusted message content needs.
 */
package dev.herd.model.tokenizer;
