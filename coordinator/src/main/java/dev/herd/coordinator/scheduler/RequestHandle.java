package dev.herd.coordinator.scheduler;

/** A submitted request, to cancel it (the client went away). */
public final class RequestHandle {
    private final ActiveRequest request;
    private final Runnable wake;

    RequestHandle(ActiveRequest request, Runnable wake) {
        this.request = request;
        this.wake = wake;
    }

    /**
     * Cancels the request: the sink gets no further calls (beyond one the scheduler may be making right now), and
     * the request's sequences leave the batch with their KV blocks freed at the start of the next step. Safe from
     * any thread; cancelling twice or after the end does nothing.
     */
    public void cancel() {
        request.cancelled = true;
        wake.run();
    }

    public boolean cancelled() {
        return request.cancelled;
    }

    public String id() {
        return request.request.id();
    }
}
