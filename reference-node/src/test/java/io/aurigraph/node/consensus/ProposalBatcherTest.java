package io.aurigraph.node.consensus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Proposal;
import io.aurigraph.node.ledger.Transaction;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ProposalBatcherTest {

    /** Proposals as the batcher hands them over, each with the future the test completes as "committed". */
    private record Sent(Proposal proposal, CompletableFuture<List<Outcome>> commit) {
    }

    private final LinkedBlockingQueue<Sent> sent = new LinkedBlockingQueue<>();

    private CompletableFuture<List<Outcome>> record(Proposal proposal) {
        CompletableFuture<List<Outcome>> commit = new CompletableFuture<>();
        sent.add(new Sent(proposal, commit));
        return commit;
    }

    private static Transaction transaction(int i) {
        return new Transaction("t" + i, "alice", "bob", 1);
    }

    private static List<Outcome> committed(Proposal proposal, long height) {
        return proposal.transactions().stream()
                .map(t -> new Outcome(t.id(), Outcome.Status.COMMITTED, height)).toList();
    }

    private Sent next() throws InterruptedException {
        Sent s = sent.poll(5, TimeUnit.SECONDS);
        if (s == null) {
            throw new AssertionError("no proposal was sent within 5 s");
        }
        return s;
    }

    @Test
    void transactionsArrivingWhileTheOnlySlotIsTakenGoIntoTheNextProposal() throws Exception {
        try (ProposalBatcher batcher = new ProposalBatcher(this::record, "business-0", 500, 0, 1, 1_000)) {
            CompletableFuture<Outcome> first = batcher.submit(transaction(0));
            Sent one = next();
            List<CompletableFuture<Outcome>> later = new ArrayList<>();
            for (int i = 1; i <= 9; i++) {
                later.add(batcher.submit(transaction(i)));
            }
            // The first proposal has not committed: nothing more may be sent.
            assertEquals(null, sent.poll(200, TimeUnit.MILLISECONDS));
            one.commit().complete(committed(one.proposal(), 1));
            assertEquals(1, first.get(5, TimeUnit.SECONDS).height());

            Sent two = next();
            assertEquals(9, two.proposal().transactions().size());
            two.commit().complete(committed(two.proposal(), 2));
            for (int i = 0; i < later.size(); i++) {
                Outcome outcome = later.get(i).get(5, TimeUnit.SECONDS);
                assertEquals("t" + (i + 1), outcome.transactionId());
                assertEquals(2, outcome.height());
            }
        }
    }

    @Test
    void aFailedProposalFailsEachOfItsTransactionsAndFreesItsSlot() throws Exception {
        try (ProposalBatcher batcher = new ProposalBatcher(this::record, "business-0", 500, 0, 1, 1_000)) {
            CompletableFuture<Outcome> lost = batcher.submit(transaction(0));
            next().commit().completeExceptionally(new IllegalStateException("no leader"));
            ExecutionException error = assertThrows(ExecutionException.class, () -> lost.get(5, TimeUnit.SECONDS));
            assertInstanceOf(IllegalStateException.class, error.getCause());

            CompletableFuture<Outcome> after = batcher.submit(transaction(1));
            Sent retry = next();
            retry.commit().complete(committed(retry.proposal(), 1));
            assertEquals(1, after.get(5, TimeUnit.SECONDS).height());
        }
    }

    @Test
    void aFullQueueAnswersOverloadedAtOnceAndTheQueuedTransactionsStillCommit() throws Exception {
        try (ProposalBatcher batcher = new ProposalBatcher(this::record, "business-0", 1, 0, 1, 2)) {
            batcher.submit(transaction(0));
            Sent one = next();
            // t0 awaits commit; at most one more waits in the worker for the slot and two in the queue.
            List<CompletableFuture<Outcome>> more = new ArrayList<>();
            more.add(batcher.submit(transaction(1)));
            Thread.sleep(200); // lets the worker take t1 and wait for the slot
            for (int i = 2; i <= 4; i++) {
                more.add(batcher.submit(transaction(i)));
            }
            ExecutionException error = assertThrows(ExecutionException.class, () -> more.get(3).get(1, TimeUnit.SECONDS));
            assertInstanceOf(ProposalBatcher.Overloaded.class, error.getCause());

            one.commit().complete(committed(one.proposal(), 1));
            for (long height = 2; height <= 4; height++) {
                Sent s = next();
                s.commit().complete(committed(s.proposal(), height));
            }
            for (int i = 0; i < 3; i++) {
                assertEquals("t" + (i + 1), more.get(i).get(5, TimeUnit.SECONDS).transactionId());
            }
        }
    }
}
