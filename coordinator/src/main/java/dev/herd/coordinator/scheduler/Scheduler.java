package dev.herd.coordinator.scheduler;

import dev.herd.coordinator.metrics.ServingMetrics;
import dev.herd.model.sampling.InvalidSamplingParameterException;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.SamplingParams;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.tokenizer.Tokenizer;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Continuous batching on one dedicated thread. Each step forms a batch from every running decode (one token each)
 * and prefill chunks of admitted and waiting sequences up to the step's token budget, runs it through the model
 * in one forward pass, samples the sequences whose known tokens are all computed, and streams each token to its
 * request's sink. Sequences join and leave at every step.
 *
 * <p>KV accounting is in fixed-size blocks: a waiting sequence is admitted only when blocks for all of its known
 * tokens are free; a decode that needs a new block when none is free preempts the newest running sequence (its
 * blocks are freed and it goes back to the front of the queue to recompute its prompt and the tokens generated so
 * far; a draw depends only on the seed, the position and the history, so the tokens that come out are the same).
 * A model that loses every sequence's state ({@link ModelRestartedException}: a cluster switched plans) has every
 * running sequence recomputed the same way, and while the model cannot run steps at all, accepted requests wait
 * (up to {@link SchedulerSettings#maxUnavailable()}) and new ones are refused. Prefix caching: a sequence whose
 * prompt starts with full blocks another open or retained sequence computed starts from them ({@link PrefixIndex},
 * {@link ModelRunner#openFrom}) instead of prefilling them again.
 *
 * <p>Thread model: {@link #submit} and {@link RequestHandle#cancel} are safe from any thread and never block (an
 * event loop calls them); everything else happens on the scheduler thread, which calls the sinks.
 */
public final class Scheduler implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Scheduler.class.getName());
    /** Finished sequences whose caches are kept for later prompts that start the same way, at most. */
    private static final int MAX_RETAINED = 64;
    /** How often a scheduler whose model cannot run steps looks again. */
    private static final long UNAVAILABLE_POLL_MILLIS = 50;

    private final ModelRunner model;
    private final Tokenizer tokenizer;
    private final SchedulerSettings settings;
    private final ServingMetrics metrics;
    private final Set<Integer> endOfSequence;
    private final KvBlockPool pool;
    private final PrefixIndex prefixes;
    /** Finished sequences kept for their caches, least recently used first; their blocks count as used. */
    private final ArrayDeque<Sequence> retained = new ArrayDeque<>();
    private final ConcurrentLinkedQueue<ActiveRequest> incoming = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queuedRequests = new AtomicInteger();
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    /** Running sequences, oldest admission first: the newest is preempted first. */
    private final List<Sequence> running = new ArrayList<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private boolean signalled;
    private final Thread thread;
    private volatile boolean closed;
    /** Orders accepting a request against closing (see {@link #shutDown}). */
    private final Object admission = new Object();
    private volatile SchedulerStats stats;
    private long preemptions;
    private long steps;
    /** Prompt positions copied from cached prefixes instead of computed. */
    private long cachedTokens;
    /** When the model last became unable to run steps, or -1 while it can. */
    private long unavailableSince = -1;

    /**
     * @param model         the batched forward pass
     * @param tokenizer     for streaming text and stop strings
     * @param endOfSequence token ids that end a choice (the model's EOS ids)
     * @param settings      budgets and limits
     * @param metrics       where to record
     */
    public Scheduler(ModelRunner model, Tokenizer tokenizer, Collection<Integer> endOfSequence,
                     SchedulerSettings settings, ServingMetrics metrics) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.settings = settings;
        this.metrics = metrics;
        this.endOfSequence = Set.copyOf(endOfSequence);
        this.pool = new KvBlockPool(settings.kvBlocks(), settings.blockSize());
        // the storage behind the accounting: what the pool lets sequences take always fits in it
        model.allocateKv(settings.kvBlocks(), settings.blockSize());
        this.prefixes = new PrefixIndex(settings.blockSize());
        metrics.availability(model::unavailable);
        publish();
        this.thread = Thread.ofPlatform().name("herd-scheduler").daemon(true).unstarted(this::loop);
        thread.start();
    }

    /** The ids that end a choice: the config's EOS ids and the tokenizer's. */
    public static Set<Integer> endOfSequenceIds(ModelConfig config, Tokenizer tokenizer) {
        Set<Integer> ids = new HashSet<>(config.eosTokenIds());
        if (tokenizer.eosId() >= 0) {
            ids.add(tokenizer.eosId());
        }
        return Set.copyOf(ids);
    }

    /** The scheduler's settings. */
    public SchedulerSettings settings() {
        return settings;
    }

    /** Why the model cannot serve now (a cluster without a ready plan), or null when it can. */
    public String unavailable() {
        return model.unavailable();
    }

    /** The latest snapshot (after the last step or change). */
    public SchedulerStats stats() {
        return stats;
    }

    /**
     * Queues a request. Never blocks.
     *
     * @throws RequestRejectedException when the queue is full, the prompt cannot fit, or the scheduler is closed
     * @throws dev.herd.model.sampling.InvalidSamplingParameterException when a parameter does not fit the
     *                                                                         model (a logit_bias token id)
     */
    public RequestHandle submit(GenerationRequest request, GenerationSink sink) {
        int promptLength = request.prompt().length; // (a copy; the record guards its array)
        String unavailable = model.unavailable();
        if (unavailable != null) {
            throw new RequestRejectedException(RequestRejectedException.Reason.MODEL_UNAVAILABLE,
                    "the model cannot serve now: " + unavailable);
        }
        if (promptLength >= model.contextLength()) {
            throw new RequestRejectedException(RequestRejectedException.Reason.PROMPT_TOO_LONG, "the prompt has "
                    + promptLength + " tokens; the model's context holds " + model.contextLength()
                    + " tokens, prompt and completion together");
        }
        int blocks = pool.blocksFor(promptLength + 1L);
        if (blocks > settings.kvBlocks()) {
            throw new RequestRejectedException(RequestRejectedException.Reason.PROMPT_TOO_LONG, "the prompt has "
                    + promptLength + " tokens; with one generated token it needs " + blocks + " KV blocks of "
                    + settings.blockSize() + " tokens, and this server's KV budget is " + settings.kvBlocks()
                    + " blocks");
        }
        for (int id : request.sampling().logitBias().keySet()) {
            if (id >= model.vocabSize()) {
                throw new InvalidSamplingParameterException("logit_bias", "logit_bias names token " + id
                        + ", outside the vocabulary of " + model.vocabSize());
            }
        }
        Long seed = request.sampling().seed();
        ActiveRequest active = new ActiveRequest(request, sink, System.nanoTime(),
                seed != null ? seed : ThreadLocalRandom.current().nextLong());
        while (true) {
            int q = queuedRequests.get();
            if (q >= settings.maxQueuedRequests()) {
                throw new RequestRejectedException(RequestRejectedException.Reason.QUEUE_FULL, "the request queue is full ("
                        + settings.maxQueuedRequests() + " waiting); try again later");
            }
            if (queuedRequests.compareAndSet(q, q + 1)) {
                break;
            }
        }
        synchronized (admission) {
            if (closed) {
                queuedRequests.decrementAndGet();
                throw new RequestRejectedException(RequestRejectedException.Reason.SHUTTING_DOWN,
                        "the server is shutting down");
            }
            incoming.add(active);
        }
        metrics.queueDepth(queuedRequests.get());
        metrics.promptTokens(promptLength);
        wake();
        return new RequestHandle(active, this::wake);
    }

    /** Stops the thread; requests still open get {@link GenerationSink#onError}. */
    @Override
    public void close() {
        shutDown();
        wake();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            // closing from an interrupted thread: leave the daemon thread to finish on its own
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Refuses new requests from now on. Under the admission lock, so every request accepted before is already in
     * {@code incoming} when the thread drains it a last time to fail it; none falls between.
     */
    private void shutDown() {
        synchronized (admission) {
            closed = true;
        }
    }

    private void wake() {
        lock.lock();
        try {
            signalled = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void awaitWork() {
        awaitWork(0);
    }

    /** Waits for a submission, a cancellation or closing; at most {@code millis} unless that is 0. */
    private void awaitWork(long millis) {
        lock.lock();
        try {
            long left = TimeUnit.MILLISECONDS.toNanos(millis);
            while (!signalled && !closed) {
                if (millis == 0) {
                    work.await();
                } else if ((left = work.awaitNanos(left)) <= 0) {
                    break;
                }
            }
            signalled = false;
        } catch (InterruptedException e) {
            // nobody interrupts this thread but close(); the loop re-checks closed
            Thread.currentThread().interrupt();
        } finally {
            lock.unlock();
        }
    }

    private void loop() {
        try {
            while (!closed) {
                drainIncoming();
                removeCancelled();
                if (running.isEmpty() && waiting.isEmpty()) {
                    unavailableSince = -1;
                    publish();
                    awaitWork();
                    continue;
                }
                if (!modelAvailable()) {
                    continue;
                }
                step();
                publish();
            }
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, "the scheduler stopped on an unexpected failure", e);
            shutDown();
            throw e;
        } finally {
            try {
                failAll("the server is shutting down");
            } finally {
                model.freeKv(); // every sequence, retained ones included, was released just now
            }
        }
    }

    /**
     * Whether the model can run a step now. While it cannot, this waits a little (new work and cancellations still
     * wake it) and fails every open request once the model has been unavailable for longer than the settings
     * allow.
     */
    private boolean modelAvailable() {
        String why = model.unavailable();
        if (why == null) {
            unavailableSince = -1;
            return true;
        }
        long now = System.nanoTime();
        if (unavailableSince < 0) {
            unavailableSince = now;
            LOG.log(System.Logger.Level.WARNING, "the model cannot run steps (" + why + "); "
                    + (running.size() + waiting.size()) + " sequence(s) wait");
        } else if (now - unavailableSince > settings.maxUnavailable().toNanos()) {
            Duration limit = settings.maxUnavailable();
            failOpen("the model could not serve for " + (limit.toMillis() % 1000 == 0 ? limit.toSeconds() + " s"
                    : limit.toMillis() + " ms") + ": " + why);
            unavailableSince = -1;
            return false;
        }
        awaitWork(UNAVAILABLE_POLL_MILLIS);
        return false;
    }

    /** Moves new requests into the queue as one sequence per choice, each with its own seed. */
    private void drainIncoming() {
        for (ActiveRequest r; (r = incoming.poll()) != null; ) {
            GenerationRequest request = r.request;
            List<Sequence> sequences = new ArrayList<>(request.n());
            int[] prompt = request.prompt();
            for (int i = 0; i < request.n(); i++) {
                // choice 0 uses the request's seed itself; the others get seeds spread by the golden-ratio increment
                long choiceSeed = r.seed + i * 0x9E3779B97F4A7C15L;
                sequences.add(new Sequence(r, i, prompt, choiceSeed, tokenizer.streamingDecoder(true),
                        new StopMatcher(request.stop())));
            }
            r.sequences = sequences;
            r.unfinished = request.n();
            waiting.addAll(sequences);
        }
    }

    /** Takes cancelled requests out of the queue and the batch, freeing their blocks now. */
    private void removeCancelled() {
        Set<ActiveRequest> gone = new HashSet<>();
        for (Sequence s : running) {
            if (s.request.cancelled) {
                gone.add(s.request);
            }
        }
        for (Sequence s : waiting) {
            if (s.request.cancelled) {
                gone.add(s.request);
            }
        }
        for (ActiveRequest r : gone) {
            drop(r);
        }
    }

    /** Frees every sequence of {@code r} and closes it to its sink. */
    private void drop(ActiveRequest r) {
        for (Sequence s : r.sequences) {
            release(s);
            s.finished = true;
        }
        waiting.removeIf(s -> s.request == r);
        if (r.queued) {
            r.queued = false;
            queuedRequests.decrementAndGet();
        }
        r.closed = true;
    }

    private void release(Sequence s) {
        if (s.model != null) {
            prefixes.unregister(s);
            retained.remove(s);
            model.release(s.model);
            pool.give(s.blocks);
            s.blocks = 0;
            s.model = null;
            running.remove(s);
        }
    }

    private void step() {
        List<Sequence> batch = new ArrayList<>();
        List<ModelRunner.Work> segments = new ArrayList<>();
        int budget = settings.maxBatchTokens();

        // 1. every running sequence with one token to run (a decode), oldest first; a block it needs may cost the
        //    newest sequence its place
        for (Sequence s : List.copyOf(running)) {
            if (!s.running() || s.pending() != 1) {
                continue;
            }
            while (!grow(s, s.length())) {
                if (running.size() == 1) {
                    // alone and still out of blocks: the KV budget is this sequence's limit
                    finish(s, FinishReason.LENGTH, flushText(s));
                    break;
                }
                Sequence victim = running.getLast();
                preempt(victim);
                if (victim == s) {
                    break;
                }
            }
            if (s.running()) {
                batch.add(s);
                segments.add(work(s, 1));
                budget--;
            }
        }
        // 2. prefill chunks of admitted sequences, oldest first (their blocks were taken at admission)
        for (Sequence s : running) {
            if (budget == 0) {
                break;
            }
            if (s.pending() > 1) {
                int chunk = Math.min(s.pending(), budget);
                batch.add(s);
                segments.add(work(s, chunk));
                budget -= chunk;
            }
        }
        // 3. admit waiting sequences in order while blocks for all their known tokens are free
        while (budget > 0 && !waiting.isEmpty() && running.size() < settings.maxRunningSequences()) {
            Sequence s = waiting.peekFirst();
            int need = pool.blocksFor(s.length());
            if (need > pool.total()) {
                // a preempted sequence that grew to the whole budget can never come back: the budget ends it
                waiting.pollFirst();
                finish(s, FinishReason.LENGTH, flushText(s));
                continue;
            }
            if (!takeBlocks(need)) {
                break;
            }
            waiting.pollFirst();
            s.blocks = need;
            open(s);
            running.add(s);
            if (s.request.queued) {
                s.request.queued = false;
                queuedRequests.decrementAndGet();
            }
            int chunk = Math.min(s.pending(), budget);
            batch.add(s);
            segments.add(work(s, chunk));
            budget -= chunk;
        }
        if (batch.isEmpty()) {
            // cannot happen while the admission rules hold (with nothing running every block is free); waiting for
            // the next submission or cancellation rather than spinning keeps a broken invariant from burning a core
            LOG.log(System.Logger.Level.WARNING, "an empty batch with " + waiting.size() + " sequences waiting");
            awaitWork();
            return;
        }
        List<SampledToken> sampled;
        try {
            sampled = model.step(segments);
        } catch (ModelRestartedException e) {
            LOG.log(System.Logger.Level.WARNING, "the model restarted (" + e.getMessage() + "); recomputing "
                    + running.size() + " running sequence(s)");
            for (Sequence s : List.copyOf(running).reversed()) {
                preempt(s); // newest first to the front: the queue keeps their admission order
            }
            while (!retained.isEmpty()) {
                release(retained.peekFirst()); // their caches went with the model's state
            }
            return;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "a forward step failed; its requests fail", e);
            Set<ActiveRequest> failed = new LinkedHashSet<>();
            for (Sequence s : batch) {
                failed.add(s.request);
            }
            for (ActiveRequest r : failed) {
                fail(r, "the model failed: " + e);
            }
            return;
        }
        steps++;
        if (model.copiesPrefixes()) {
            for (Sequence s : batch) {
                if (s.model != null) {
                    prefixes.register(s);
                }
            }
        }
        int next = 0;
        for (int i = 0; i < batch.size(); i++) {
            if (!segments.get(i).sample()) {
                continue; // a prefill chunk short of the end
            }
            Sequence s = batch.get(i);
            SampledToken token = sampled.get(next++);
            if (s.finished) {
                continue; // a request that failed in a sink
            }
            s.append(token.id());
            emit(s, token);
        }
    }

    /** The next {@code n} tokens of {@code s}, sampling after them when they are its last known ones. */
    private static ModelRunner.Work work(Sequence s, int n) {
        return new ModelRunner.Work(s.model, s.nextChunk(n), s.pending() == n);
    }

    /**
     * Gives up a finished sequence: its cache is kept for later prompts that start the same way when the model
     * can copy prefixes and the sequence computed at least one full block, else freed at once.
     */
    private void retire(Sequence s) {
        if (s.model == null || s.indexedBlocks == 0 || !model.copiesPrefixes()) {
            release(s);
            return;
        }
        running.remove(s);
        retained.addLast(s);
        if (retained.size() > MAX_RETAINED) {
            release(retained.peekFirst());
        }
    }

    /** Takes {@code need} blocks, freeing kept caches (least recently used first) while that helps. */
    private boolean takeBlocks(int need) {
        while (!pool.tryTake(need)) {
            if (retained.isEmpty()) {
                return false;
            }
            release(retained.peekFirst());
        }
        return true;
    }

    /**
     * Opens {@code s} in the model, from a copy of the longest cached prefix of its tokens when another sequence
     * (running, or finished and kept) holds one; at least its last token is always computed, for its logits.
     */
    private void open(Sequence s) {
        int[] history = s.history();
        SamplingParams params = s.request.request.sampling();
        PrefixIndex.Hit hit = model.copiesPrefixes() ? prefixes.longest(history, history.length - 1, s) : null;
        if (hit == null) {
            s.model = model.open(params, s.seed, history, s.promptLength);
            return;
        }
        s.model = model.openFrom(hit.source().model, hit.positions(), params, s.seed, history, s.promptLength);
        if (retained.remove(hit.source())) {
            retained.addLast(hit.source()); // recently used
        }
        cachedTokens += s.computed();
        metrics.cachedPromptTokens(s.computed());
    }

    /** Takes blocks so that {@code s} holds {@code tokens} positions; false when not enough are free. */
    private boolean grow(Sequence s, int tokens) {
        int need = pool.blocksFor(tokens) - s.blocks;
        if (need <= 0) {
            return true;
        }
        if (!takeBlocks(need)) {
            return false;
        }
        s.blocks += need;
        return true;
    }

    private void preempt(Sequence s) {
        release(s);
        waiting.addFirst(s);
        preemptions++;
        metrics.preemption();
    }

    /** Text, stop strings and finishing for a freshly sampled token. */
    private void emit(Sequence s, SampledToken token) {
        ActiveRequest r = s.request;
        r.completionTokens++;
        metrics.generatedTokens(1);
        if (!r.firstTokenSeen) {
            r.firstTokenSeen = true;
            metrics.timeToFirstToken((System.nanoTime() - r.acceptedNanos) / 1e9);
        }
        FinishReason finish = null;
        String text;
        if (endOfSequence.contains(token.id())) {
            text = flushText(s);
            finish = FinishReason.STOP;
        } else {
            text = s.stops.push(s.decoder.next(token.id()));
            if (s.stops.stopped()) {
                finish = FinishReason.STOP;
            } else if (s.generated() >= r.request.maxTokens() || s.length() >= model.contextLength()) {
                text += flushText(s);
                finish = s.stops.stopped() ? FinishReason.STOP : FinishReason.LENGTH;
            }
        }
        String out = text;
        deliver(r, sink -> sink.onToken(s.choice, out, token));
        if (finish != null) {
            finish(s, finish, "");
        }
    }

    /** The end of a sequence's text: bytes the decoder held, then text held for stop strings unless one matched. */
    private static String flushText(Sequence s) {
        String text = s.stops.push(s.decoder.flush());
        return s.stops.stopped() ? text : text + s.stops.flush();
    }

    private void finish(Sequence s, FinishReason reason, String lastText) {
        ActiveRequest r = s.request;
        retire(s);
        s.finished = true;
        if (!lastText.isEmpty()) {
            // text released at the end without a token of its own (held-back text when the KV budget ends it)
            deliver(r, sink -> sink.onToken(s.choice, lastText, null));
        }
        deliver(r, sink -> sink.onFinish(s.choice, reason));
        if (--r.unfinished == 0 && !r.closed) {
            Usage usage = new Usage(s.promptLength, r.completionTokens);
            deliver(r, sink -> sink.onComplete(usage));
            r.closed = true;
        }
    }

    private void fail(ActiveRequest r, String message) {
        if (!r.closed) {
            deliver(r, sink -> sink.onError(message));
        }
        drop(r);
    }

    /** Calls the sink unless the request is over; a sink that throws has its request cancelled. */
    private void deliver(ActiveRequest r, Consumer<GenerationSink> call) {
        if (r.closed || r.cancelled) {
            return;
        }
        try {
            call.accept(r.sink);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "the sink of request " + r.request.id() + " failed; cancelling it", e);
            r.cancelled = true;
        }
    }

    private void failAll(String message) {
        drainIncoming();
        failOpen(message);
        while (!retained.isEmpty()) {
            release(retained.peekFirst());
        }
        publish();
    }

    /** Fails every request that has a sequence running or waiting. */
    private void failOpen(String message) {
        Set<ActiveRequest> open = new LinkedHashSet<>();
        for (Sequence s : running) {
            open.add(s.request);
        }
        for (Sequence s : waiting) {
            open.add(s.request);
        }
        for (ActiveRequest r : open) {
            fail(r, message);
        }
    }

    private void publish() {
        int queued = queuedRequests.get();
        int cached = 0;
        for (Sequence s : retained) {
            cached += s.blocks;
        }
        stats = new SchedulerStats(queued, running.size(), waiting.size(), pool.used() - cached, cached, pool.free(),
                preemptions, steps, cachedTokens);
        metrics.schedulerState(queued, running.size(), pool.used() - cached, cached, pool.free());
    }
}
