package io.aurigraph.node.consensus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Transaction;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Four validators in one JVM on loopback, driven through the business node's client and batcher. */
class ValidatorGroupTest {

    @TempDir
    Path dataRoot;

    private TestGroup group;
    private LedgerClient client;
    private ProposalBatcher batcher;

    @BeforeEach
    void startGroup() throws Exception {
        group = new TestGroup(4, dataRoot);
        client = new LedgerClient(group.cluster(), 3_000);
        batcher = new ProposalBatcher(client::submit, "business-0", 200, 2, 2, 10_000);
    }

    @AfterEach
    void stopGroup() throws Exception {
        batcher.close();
        client.close();
        group.close();
    }

    private static Transaction tx(String id) {
        return new Transaction(id, "alice", "bob", 1);
    }

    /** Submits {@code count} transactions {@code prefix-0...} at once and waits until every one is committed. */
    private void commitAll(String prefix, int count) throws Exception {
        List<CompletableFuture<Outcome>> results = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            results.add(batcher.submit(tx(prefix + "-" + i)));
        }
        for (CompletableFuture<Outcome> result : results) {
            assertEquals(Outcome.Status.COMMITTED, result.get(30, TimeUnit.SECONDS).status());
        }
    }

    @Test
    void transactionsSubmittedThroughABusinessNodeCommitOnEveryValidatorWithTheSameHeightAndState() throws Exception {
        commitAll("tx", 1_000);
        group.awaitAgreement();
        for (Validator v : group.running()) {
            assertEquals(1_000, v.ledger().transactionCount(), v.id());
        }
        assertEquals(1, group.running().stream().filter(Validator::isLeader).count(), "exactly one leader");
        assertEquals(client.latest().orElseThrow().hash(), group.get(0).ledger().headHash());
    }

    @Test
    void aResubmittedTransactionIsAcknowledgedAsDuplicateNotCommittedTwice() throws Exception {
        Outcome first = batcher.submit(tx("once")).get(30, TimeUnit.SECONDS);
        Outcome again = batcher.submit(tx("once")).get(30, TimeUnit.SECONDS);
        assertEquals(Outcome.Status.COMMITTED, first.status());
        assertEquals(new Outcome("once", Outcome.Status.DUPLICATE, first.height()), again);
        group.awaitAgreement();
        assertEquals(1, group.get(1).ledger().transactionCount());
    }

    @Test
    void theLeaderKilledUnderLoadIsReplacedAndNoAcknowledgedTransactionIsLost() throws Exception {
        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        Set<String> failures = ConcurrentHashMap.newKeySet();
        List<CompletableFuture<Outcome>> inFlight = new ArrayList<>();
        long termBefore = group.get(group.leaderIndex()).term();

        // Bounded load: 3,000 transactions over about three seconds, the leader killed a third of the way in.
        for (int i = 0; i < 3_000; i++) {
            String id = "load-" + i;
            inFlight.add(batcher.submit(tx(id)).whenComplete((outcome, error) -> {
                if (error == null && outcome.status() == Outcome.Status.COMMITTED) {
                    acknowledged.add(id);
                } else if (error != null) {
                    failures.add(String.valueOf(error));
                }
            }));
            if (i == 1_000) {
                group.stop(group.leaderIndex());
            }
            if (i % 100 == 0) {
                Thread.sleep(100);
            }
        }
        for (CompletableFuture<Outcome> future : inFlight) {
            future.handle((o, e) -> null).get(60, TimeUnit.SECONDS);
        }

        group.awaitAgreement();
        Validator newLeader = group.get(group.leaderIndex());
        assertTrue(newLeader.term() > termBefore, "the new leader was elected in a later term");
        assertTrue(acknowledged.size() > 1_000, "load went on after the leader died: " + acknowledged.size() + " acknowledged; failures: " + failures);
        for (Validator v : group.running()) {
            for (String id : acknowledged) {
                assertTrue(v.ledger().heightOf(id).isPresent(), v.id() + " lost acknowledged " + id);
            }
        }
    }

    @Test
    void aStoppingLeaderHandsLeadershipToAFollowerBeforeItGoes() throws Exception {
        commitAll("handover", 50);
        int leader = group.leaderIndex();
        // What close() does first: the old leader is still running, and a follower leads when it returns.
        assertTrue(group.get(leader).handOverLeadership(), "the leader must hand over to a follower");
        assertTrue(!group.get(leader).isLeader(), "the old leader must have stepped down");
        assertEquals(1, group.running().stream().filter(Validator::isLeader).count());
        commitAll("after-handover", 50);
        group.stop(leader);
        commitAll("after-stop", 50);
        group.start(leader);
        group.awaitAgreement();
    }

    /**
     * A proposal that runs out of retries (no quorum for longer than the client's retry policy lasts) fails, and
     * the business node commits again once the group is back. Ratis' ordered async client keeps such a failure in
     * its sliding window and fails every later request at once ({@code AlreadyClosedException}): the client
     * must be replaced, or the node would refuse every transaction while it still looks ready.
     */
    @Test
    void aProposalThatRanOutOfRetriesLeavesTheBusinessNodeAbleToCommitOnceTheGroupIsBack() throws Exception {
        commitAll("before", 10);
        for (int i = 0; i < group.size(); i++) {
            group.stop(i);
        }
        CompletableFuture<Outcome> lost = batcher.submit(tx("during-outage"));
        java.util.concurrent.ExecutionException failed = org.junit.jupiter.api.Assertions.assertThrows(
                java.util.concurrent.ExecutionException.class, () -> lost.get(60, TimeUnit.SECONDS));
        assertTrue(failed.getCause() != null, "the proposal failed with a cause");
        for (int i = 0; i < group.size(); i++) {
            group.start(i);
        }
        group.leaderIndex();
        Outcome after = batcher.submit(tx("after-outage")).get(30, TimeUnit.SECONDS);
        assertEquals(Outcome.Status.COMMITTED, after.status());
        commitAll("later", 20);
    }

    @Test
    void theWholeGroupRestartedRecoversItsLedgerFromDisk() throws Exception {
        commitAll("kept", 600);
        group.awaitAgreement();
        long height = group.get(0).ledger().height();
        String head = group.get(0).ledger().headHash();

        for (int i = 0; i < group.size(); i++) {
            group.stop(i);
        }
        for (int i = 0; i < group.size(); i++) {
            group.start(i);
        }
        // The restarted group has the same history: a resubmitted id is still known, a new one commits on top.
        assertEquals(Outcome.Status.DUPLICATE, batcher.submit(tx("kept-7")).get(30, TimeUnit.SECONDS).status());
        Outcome next = batcher.submit(tx("after-restart")).get(30, TimeUnit.SECONDS);
        assertEquals(new Outcome("after-restart", Outcome.Status.COMMITTED, height + 1), next);
        group.awaitAgreement();
        for (Validator v : group.running()) {
            assertEquals(601, v.ledger().transactionCount(), v.id());
            assertEquals(head, v.ledger().blocksAfter(height - 1, 1).getFirst().hash(), v.id());
        }
    }

    @Test
    void aValidatorWithAnEmptyDataDirCatchesUp() throws Exception {
        commitAll("before", 301);
        int follower = (group.leaderIndex() + 1) % group.size();
        group.stop(follower);
        group.wipe(follower);

        commitAll("after", 500);

        // It asks the group to re-admit it by itself (Validator.readmitIfStranded).
        Validator rejoined = group.start(follower);
        group.awaitAgreement();
        assertEquals(801, rejoined.ledger().transactionCount());
        assertTrue(rejoined.ledger().heightOf("before-0").isPresent());
    }
}
