package io.aurigraph.node.consensus;

import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Proposal;
import io.aurigraph.node.ledger.Transaction;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Groups transactions submitted concurrently into proposals (group commit), so that one Raft round trip
 * finalizes many transactions. At most {@code inFlightMax} proposals await commit at once; while they do,
 * new transactions gather, so a proposal grows with the load instead of the validators receiving more,
 * smaller proposals than they can order. A proposal is sent when a slot is free and it holds
 * {@code batchSizeMax} transactions or its oldest transaction has waited {@code lingerMillis}; each
 * caller's future completes with its own outcome.
 */
public final class ProposalBatcher implements AutoCloseable {

    private record Pending(Transaction transaction, CompletableFuture<Outcome> result) {
    }

    private final BlockingQueue<Pending> queue;
    private final Function<Proposal, CompletableFuture<List<Outcome>>> submit;
    private final String proposer;
    private final int batchSizeMax;
    private final long lingerMillis;
    private final Semaphore inFlight;
    private final Thread worker;
    private volatile boolean running = true;

    public ProposalBatcher(Function<Proposal, CompletableFuture<List<Outcome>>> submit, String proposer,
            int batchSizeMax, long lingerMillis, int inFlightMax, int queueCapacity) {
        this.submit = submit;
        this.proposer = proposer;
        this.batchSizeMax = batchSizeMax;
        this.lingerMillis = lingerMillis;
        this.inFlight = new Semaphore(inFlightMax);
        this.queue = new LinkedBlockingQueue<>(queueCapacity);
        this.worker = Thread.ofPlatform().name("proposal-batcher").daemon().start(this::run);
    }

    /**
     * Queues {@code transaction}; the future fails at once with {@link Overloaded} when the queue is full,
     * so callers shed load instead of waiting without bound.
     */
    public CompletableFuture<Outcome> submit(Transaction transaction) {
        CompletableFuture<Outcome> result = new CompletableFuture<>();
        if (!running || !queue.offer(new Pending(transaction, result))) {
            result.completeExceptionally(new Overloaded());
        }
        return result;
    }

    /** The submission queue is full or the batcher is stopping. */
    public static final class Overloaded extends RuntimeException {
        Overloaded() {
            super("the node is at capacity; retry later", null, false, false);
        }
    }

    private void run() {
        List<Pending> batch = new ArrayList<>(batchSizeMax);
        while (running || !queue.isEmpty()) {
            try {
                Pending first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(lingerMillis);
                batch.add(first);
                inFlight.acquire();
                while (batch.size() < batchSizeMax) {
                    long left = deadline - System.nanoTime();
                    Pending next = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : queue.poll();
                    if (next == null) {
                        break;
                    }
                    batch.add(next);
                }
                send(List.copyOf(batch)); // releases the slot once committed or failed
                batch.clear();
            } catch (InterruptedException e) {
                batch.forEach(pending -> pending.result().completeExceptionally(new Overloaded()));
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void send(List<Pending> batch) {
        Proposal proposal = new Proposal(System.currentTimeMillis(), proposer,
                batch.stream().map(Pending::transaction).toList());
        CompletableFuture<List<Outcome>> committed;
        try {
            committed = submit.apply(proposal);
        } catch (RuntimeException e) {
            committed = CompletableFuture.failedFuture(e);
        }
        committed.whenComplete((outcomes, error) -> {
            inFlight.release();
            for (int i = 0; i < batch.size(); i++) {
                if (error != null) {
                    batch.get(i).result().completeExceptionally(error);
                } else {
                    batch.get(i).result().complete(outcomes.get(i));
                }
            }
        });
    }

    /**
     * Stops taking transactions and sends what is queued, waiting up to 5 s for slots; transactions still
     * queued after that fail with {@link Overloaded}.
     */
    @Override
    public void close() throws InterruptedException {
        running = false;
        worker.join(TimeUnit.SECONDS.toMillis(5));
        if (worker.isAlive()) {
            worker.interrupt();
            worker.join(TimeUnit.SECONDS.toMillis(1));
        }
        for (Pending pending; (pending = queue.poll()) != null; ) {
            pending.result().completeExceptionally(new Overloaded());
        }
    }
}
