package dev.herd.coordinator.cluster;

import dev.herd.coordinator.scheduler.ModelRestartedException;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.ModelSequence;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.SamplingParams;
import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.SequenceFork;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StepResult;
import dev.herd.shard.SamplingCodec;
import dev.herd.shard.StageClient;
import dev.herd.shard.StepFailedException;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The model as a pipeline of shard nodes: each step goes to the first stage as one frame (every item's rows, the
 * rows to sample, and the sampling state of sequences that join), flows through the stages, and the last stage
 * samples, so only token ids come back. KV caches and samplers live on the stages, keyed by sequence id.
 *
 * <p>A sequence's caches belong to the plan epoch it started in. When the engine serves a new epoch (a node joined
 * or left), those caches are gone: the next step throws {@link ModelRestartedException} and the scheduler
 * recomputes its sequences on the new plan. A step that fails because a node became unreachable waits (bounded)
 * for the engine to notice and re-plan, and is then reported the same way, so a lost node costs the running
 * requests a recomputation, not their answers.
 *
 * <p>Used from one thread (the scheduler's).
 */
final class ClusterModelRunner implements ModelRunner {
    /** Fewest rows per micro-batch: smaller steps go through the pipeline whole. */
    private static final int MIN_MICRO_BATCH_ROWS = 4;
    private final ClusterEngine engine;
    private final int vocab;
    private final int context;
    /** The plan the stream below talks to. */
    private ClusterEngine.Serving bound;
    private StageClient client;
    private long stepIds;

    ClusterModelRunner(ClusterEngine engine) {
        this.engine = engine;
        this.vocab = engine.model().config().vocabSize();
        this.context = engine.model().config().maxPositions();
    }

    /** A sequence's identity on the stages and what it joins with. */
    private static final class Remote implements ModelSequence {
        final long id;
        final SamplingParams params;
        final long seed;
        final int[] history;
        final int promptLength;
        /** The epoch whose stages hold its caches; -1 before its first step. */
        long epoch = -1;
        int computed;
        /** Whether its sampling state went to the last stage (with its first step). */
        boolean joined;
        /** The sequence its first step copies {@link #computed} positions from, until that step is sent. */
        Remote forkFrom;
        /** Sequences still to fork from this one in a step not sent yet: its release must wait for that step. */
        int pendingForks;
        boolean releaseWaits;

        Remote(long id, SamplingParams params, long seed, int[] history, int promptLength) {
            this.id = id;
            this.params = params;
            this.seed = seed;
            this.history = history;
            this.promptLength = promptLength;
        }

        @Override
        public int computed() {
            return computed;
        }
    }

    @Override
    public ModelSequence open(SamplingParams params, long seed, int[] history, int promptLength) {
        return new Remote(engine.nextSequenceId(), params, seed, history.clone(), promptLength);
    }

    @Override
    public boolean copiesPrefixes() {
        return true;
    }

    @Override
    public ModelSequence openFrom(ModelSequence prefix, int positions, SamplingParams params, long seed,
                                  int[] history, int promptLength) {
        Remote source = (Remote) prefix;
        Remote r = new Remote(engine.nextSequenceId(), params, seed, history.clone(), promptLength);
        ClusterEngine.Serving s = engine.serving();
        if (s == null || source.epoch != s.plan().epoch() || source.computed < positions) {
            return r; // the source's caches are not on the served plan's stages: compute from scratch
        }
        r.forkFrom = source;
        r.epoch = source.epoch;
        r.computed = positions;
        source.pendingForks++;
        return r;
    }

    @Override
    public List<SampledToken> step(List<Work> items) {
        ClusterEngine.Serving s = engine.serving();
        if (s == null) {
            throw new ModelRestartedException("the cluster serves no plan: " + engine.status(), null);
        }
        long epoch = s.plan().epoch();
        for (Work w : items) {
            Remote r = (Remote) w.sequence();
            if ((r.computed > 0 || r.forkFrom != null) && r.epoch != epoch) {
                throw new ModelRestartedException("the cluster moved from plan epoch " + r.epoch + " to " + epoch, null);
            }
        }
        // sources released while forks from them waited for this step go in its frame, after the forks
        List<Long> releaseAfter = new ArrayList<>();
        for (Work w : items) {
            Remote r = (Remote) w.sequence();
            if (r.forkFrom != null && --r.forkFrom.pendingForks == 0 && r.forkFrom.releaseWaits) {
                releaseAfter.add(r.forkFrom.id);
            }
        }
        List<List<Work>> parts = microBatches(items, s.plan().stages().size());
        List<StageInput> inputs = new ArrayList<>(parts.size());
        for (int i = 0; i < parts.size(); i++) {
            StageInput in = input(parts.get(i), epoch);
            if (i == parts.size() - 1) {
                in = in.toBuilder().addAllReleaseAfter(releaseAfter).build();
            }
            inputs.add(in);
        }
        for (Work w : items) {
            Remote r = (Remote) w.sequence();
            r.epoch = epoch; // from now on its stages may hold state to release
            r.joined = true;
            r.forkFrom = null;
        }
        List<StepResult> results = send(s, inputs);
        List<SampledToken> out = new ArrayList<>();
        for (int p = 0; p < parts.size(); p++) {
            StepResult result = results.get(p);
            int next = 0;
            for (Work w : parts.get(p)) {
                Remote r = (Remote) w.sequence();
                r.computed += w.tokens().length;
                if (w.sample()) {
                    var t = result.getTokens(next++);
                    if (t.getSeqId() != r.id || t.getPosition() != r.computed) {
                        throw new IllegalStateException("step " + result.getStepId() + " answered sequence "
                                + t.getSeqId() + " position " + t.getPosition() + " where sequence " + r.id
                                + " position " + r.computed + " was asked");
                    }
                    out.add(SamplingCodec.fromProto(t, r.params.logprobs()));
                }
            }
        }
        return out;
    }

    /**
     * The step's items cut into up to one micro-batch per stage, in order, of about equal rows, all sent before
     * any answer is awaited: while the second stage runs the first micro-batch, the first stage runs the second,
     * so a pipeline of k stages is not idle k-1 of k times. Small steps stay whole (a frame costs a round of
     * messages per stage). Every stage runs its frames in order, so forks (of sequences computed in earlier
     * steps) and the releases in the last frame keep their meaning.
     */
    static List<List<Work>> microBatches(List<Work> items, int stages) {
        int rows = 0;
        for (Work w : items) {
            rows += w.tokens().length;
        }
        int k = Math.min(Math.min(stages, items.size()), rows / MIN_MICRO_BATCH_ROWS);
        if (k <= 1) {
            return List.of(items);
        }
        List<List<Work>> parts = new ArrayList<>(k);
        List<Work> current = new ArrayList<>();
        int filled = 0;
        for (int i = 0; i < items.size(); i++) {
            current.add(items.get(i));
            filled += items.get(i).tokens().length;
            int toOpen = k - parts.size() - 1;      // parts still to start after this one
            int itemsLeft = items.size() - i - 1;
            boolean share = (long) filled * k >= (long) rows * (parts.size() + 1);
            // close this part at its share of the rows, or when every later part needs one of the items left
            if (toOpen > 0 && itemsLeft >= toOpen && (share || itemsLeft == toOpen)) {
                parts.add(current);
                current = new ArrayList<>();
            }
        }
        parts.add(current);
        return parts;
    }

    /** One frame with every item's rows; sequences starting in it bring their sampling state. */
    private StageInput input(List<Work> items, long epoch) {
        StageInput.Builder in = StageInput.newBuilder();
        ActivationFrame.Builder f = ActivationFrame.newBuilder().setPlanEpoch(epoch).setStepId(++stepIds).setCols(0);
        int rows = 0;
        for (Work w : items) {
            Remote r = (Remote) w.sequence();
            for (int i = 0; i < w.tokens().length; i++) {
                f.addSeqIds(r.id).addPositions(r.computed + i);
                in.addTokenIds(w.tokens()[i]);
            }
            rows += w.tokens().length;
            if (w.sample()) {
                in.addSampleRows(rows - 1);
            }
            if (!r.joined) {
                in.addSampling(SamplingCodec.toProto(r.id, r.params, r.seed, r.history, r.promptLength));
            }
            if (r.forkFrom != null) {
                in.addForks(SequenceFork.newBuilder().setSeqId(r.id).setSourceSeqId(r.forkFrom.id)
                        .setPositions(r.computed));
            }
        }
        return in.setFrame(f.setRows(rows)).build();
    }

    private List<StepResult> send(ClusterEngine.Serving s, List<StageInput> inputs) {
        StageClient c = client(s);
        StageInput input = inputs.getFirst();
        try {
            List<CompletableFuture<StepResult>> pending = new ArrayList<>(inputs.size());
            for (StageInput in : inputs) {
                pending.add(c.step(in));
            }
            long deadline = System.nanoTime() + engine.settings().stepTimeout().toNanos();
            List<StepResult> results = new ArrayList<>(inputs.size());
            for (int i = 0; i < inputs.size(); i++) {
                input = inputs.get(i);
                StepResult r = pending.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (r.getTokensCount() != input.getSampleRowsCount()) {
                    throw new IllegalStateException("step " + input.getFrame().getStepId() + " sampled "
                            + r.getTokensCount() + " rows of " + input.getSampleRowsCount());
                }
                results.add(r);
            }
            return results;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof StepFailedException f && !nodeLost(f.failure().getReason())) {
                throw new IllegalStateException("the cluster could not run the step: " + f.getMessage(), f);
            }
            throw lost(s, "step " + input.getFrame().getStepId() + " failed: " + cause.getMessage(), cause);
        } catch (TimeoutException e) {
            throw lost(s, "step " + input.getFrame().getStepId() + " was not answered in "
                    + engine.settings().stepTimeout().toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the cluster ran a step", e);
        }
    }

    /** Failures that a node leaving (or restarting) explains, and that a new plan can cure. */
    private static boolean nodeLost(FailureReason reason) {
        return reason == FailureReason.FAILURE_REASON_PEER_UNAVAILABLE
                || reason == FailureReason.FAILURE_REASON_PLAN_EPOCH_MISMATCH
                || reason == FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE;
    }

    /**
     * A step failed the way a lost node makes it fail: waits (bounded) for the engine to stop serving the plan it
     * ran under; if it does, the caches are gone and the scheduler recomputes, else the step's failure stands.
     */
    private RuntimeException lost(ClusterEngine.Serving s, String what, Throwable cause) {
        closeClient();
        if (engine.awaitLeaving(s, engine.settings().replanGrace())) {
            return new ModelRestartedException(what + "; the cluster is re-planning (" + engine.status() + ")", cause);
        }
        return new IllegalStateException(what + " (the cluster still serves plan epoch " + s.plan().epoch() + ")",
                cause);
    }

    private StageClient client(ClusterEngine.Serving s) {
        if (client != null && (bound != s || client.isBroken())) {
            closeClient();
        }
        if (client == null) {
            client = engine.openPipeline(s);
            bound = s;
        }
        return client;
    }

    private void closeClient() {
        if (client != null) {
            client.close();
            client = null;
            bound = null;
        }
    }

    @Override
    public void release(ModelSequence sequence) {
        Remote r = (Remote) sequence;
        if (r.forkFrom != null) {
            r.forkFrom.pendingForks--; // never sent: its source need not wait for it
            if (r.forkFrom.pendingForks == 0 && r.forkFrom.releaseWaits) {
                releaseNow(engine.serving(), r.forkFrom);
            }
            r.forkFrom = null;
            return; // nothing of it reached the stages
        }
        if (r.pendingForks > 0) {
            r.releaseWaits = true; // a step not sent yet copies from it; released right after that step is sent
            return;
        }
        releaseNow(engine.serving(), r);
    }

    private void releaseNow(ClusterEngine.Serving s, Remote r) {
        if (r.joined && r.epoch >= 0 && s != null && s.plan().epoch() == r.epoch) {
            engine.release(s, List.of(r.id));
        }
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public int contextLength() {
        return context;
    }

    @Override
    public String unavailable() {
        return engine.serving() == null ? engine.status() : null;
    }
}
