package dev.herd.coordinator.scheduler;

/** Why a choice ended, as the OpenAI API reports it. */
public enum FinishReason {
    /** The model produced an end-of-sequence token or the text reached a stop string. */
    STOP("stop"),
    /** max_tokens, the context length or the KV budget ended the choice. */
    LENGTH("length");

    private final String apiName;

    FinishReason(String apiName) {
        this.apiName = apiName;
    }

    /** The {@code finish_reason} value. */
    public String apiName() {
        return apiName;
    }
}
