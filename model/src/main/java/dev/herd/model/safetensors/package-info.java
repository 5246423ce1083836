/**
 * The safetensors weight format: {@link dev.herd.model.safetensors.SafetensorsFile} (one memory-mapped file),
 * {@link dev.herd.model.safetensors.SafetensorsDirectory} (a Hugging Face model directory, shards mapped on
 * first use), {@link dev.herd.model.safetensors.SafetensorsHeader} (the validated header, readable without
 * mapping the data) and {@link dev.herd.model.safetensors.SafetensorsWriter} (streaming writer, single file or
 * sharded with an index). FP8 weights carry the scale found beside them; the checkpoint conventions are
 * documented on {@code Fp8Scales}.
 */
package dev.herd.model.safetensors;
