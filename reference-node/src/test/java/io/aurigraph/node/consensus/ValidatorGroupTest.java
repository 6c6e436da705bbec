package io.aurigraph.node.consensus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Transaction;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Four validators in one JVM on loopback, driven through the business node's client and batcher. */
class ValidatorGroupTest {

    private static final int VALIDATORS = 4;

    // Ratis narrates every election and append at INFO; the tests' own assertions say what matters.
    private static final java.util.logging.Logger RATIS_LOG = java.util.logging.Logger.getLogger("org.apache.ratis");

    static {
        RATIS_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    @TempDir
    Path dataRoot;

    private ClusterSpec cluster;
    private final Validator[] validators = new Validator[VALIDATORS];
    private LedgerClient client;
    private ProposalBatcher batcher;

    @BeforeEach
    void startGroup() throws IOException {
        List<String> peers = new ArrayList<>();
        for (int i = 0; i < VALIDATORS; i++) {
            peers.add("validator-" + i + "=127.0.0.1:" + freePort());
        }
        cluster = ClusterSpec.parse(String.join(",", peers));
        for (int i = 0; i < VALIDATORS; i++) {
            validators[i] = start(i);
        }
        client = new LedgerClient(cluster, 3_000);
        batcher = new ProposalBatcher(client::submit, "business-0", 200, 2, 10_000);
    }

    @AfterEach
    void stopGroup() throws Exception {
        batcher.close();
        client.close();
        for (Validator validator : validators) {
            if (validator != null) {
                validator.close();
            }
        }
    }

    private Validator start(int index) throws IOException {
        // A small snapshot interval so that the tests also cross snapshots and log purging.
        return Validator.start(new Validator.Settings("validator-" + index, cluster,
                dataRoot.resolve("validator-" + index), 200, 1_000));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static Transaction tx(String id) {
        return new Transaction(id, "alice", "bob", 1);
    }

    private List<Validator> running() {
        return Stream.of(validators).filter(v -> v != null).toList();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(50);
        }
    }

    private void awaitAgreement(long height) throws InterruptedException {
        await("every running validator is at height " + height + " with the same head", () -> {
            List<Validator> live = running();
            Set<String> heads = ConcurrentHashMap.newKeySet();
            for (Validator v : live) {
                if (v.ledger().height() != height) {
                    return false;
                }
                heads.add(v.ledger().headHash());
            }
            return heads.size() == 1;
        });
    }

    private long leaderHeight() {
        return running().stream().filter(Validator::isLeader).mapToLong(v -> v.ledger().height()).max().orElse(-1);
    }

    @Test
    void transactionsSubmittedThroughABusinessNodeCommitOnEveryValidatorWithTheSameHeightAndState() throws Exception {
        List<CompletableFuture<Outcome>> results = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) {
            results.add(batcher.submit(tx("tx-" + i)));
        }
        for (CompletableFuture<Outcome> result : results) {
            assertEquals(Outcome.Status.COMMITTED, result.get(30, TimeUnit.SECONDS).status());
        }
        awaitAgreement(leaderHeight());
        for (Validator v : running()) {
            assertEquals(1_000, v.ledger().transactionCount(), v.id());
        }
        assertEquals(1, running().stream().filter(Validator::isLeader).count(), "exactly one leader");
        assertEquals(client.latest().orElseThrow().hash(), validators[0].ledger().headHash());
    }

    @Test
    void aResubmittedTransactionIsAcknowledgedAsDuplicateNotCommittedTwice() throws Exception {
        Outcome first = batcher.submit(tx("once")).get(30, TimeUnit.SECONDS);
        Outcome again = batcher.submit(tx("once")).get(30, TimeUnit.SECONDS);
        assertEquals(Outcome.Status.COMMITTED, first.status());
        assertEquals(new Outcome("once", Outcome.Status.DUPLICATE, first.height()), again);
        awaitAgreement(leaderHeight());
        assertEquals(1, validators[1].ledger().transactionCount());
    }

    @Test
    void theLeaderKilledUnderLoadIsReplacedAndNoAcknowledgedTransactionIsLost() throws Exception {
        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        List<CompletableFuture<Outcome>> inFlight = new ArrayList<>();
        await("a leader is elected", () -> leaderHeight() >= 0);
        long termBefore = running().stream().filter(Validator::isLeader).findFirst().orElseThrow().term();

        // Bounded load: 3,000 transactions over about three seconds, the leader killed a third of the way in.
        for (int i = 0; i < 3_000; i++) {
            String id = "load-" + i;
            inFlight.add(batcher.submit(tx(id)).whenComplete((outcome, error) -> {
                if (error == null && outcome.status() == Outcome.Status.COMMITTED) {
                    acknowledged.add(id);
                }
            }));
            if (i == 1_000) {
                int leader = indexOfLeader();
                validators[leader].close();
                validators[leader] = null;
            }
            if (i % 100 == 0) {
                Thread.sleep(100);
            }
        }
        for (CompletableFuture<Outcome> future : inFlight) {
            future.handle((o, e) -> null).get(60, TimeUnit.SECONDS);
        }

        await("a new leader is elected", () -> running().stream().anyMatch(Validator::isLeader));
        awaitAgreement(leaderHeight());
        Validator newLeader = running().stream().filter(Validator::isLeader).findFirst().orElseThrow();
        assertTrue(newLeader.term() > termBefore, "the new leader was elected in a later term");
        assertTrue(acknowledged.size() > 1_000, "load went on after the leader died: " + acknowledged.size());
        for (Validator v : running()) {
            for (String id : acknowledged) {
                assertTrue(v.ledger().heightOf(id).isPresent(), v.id() + " lost acknowledged " + id);
            }
        }
    }

    @Test
    void aValidatorWithAnEmptyDataDirCatchesUp() throws Exception {
        for (int i = 0; i < 300; i++) {
            batcher.submit(tx("before-" + i));
        }
        batcher.submit(tx("before-last")).get(30, TimeUnit.SECONDS);
        int follower = (indexOfLeader() + 1) % VALIDATORS;
        validators[follower].close();
        validators[follower] = null;
        deleteTree(dataRoot.resolve("validator-" + follower));

        List<CompletableFuture<Outcome>> after = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            after.add(batcher.submit(tx("after-" + i)));
        }
        for (CompletableFuture<Outcome> result : after) {
            assertEquals(Outcome.Status.COMMITTED, result.get(30, TimeUnit.SECONDS).status());
        }

        validators[follower] = start(follower);
        awaitAgreement(leaderHeight());
        assertEquals(801, validators[follower].ledger().transactionCount());
        assertTrue(validators[follower].ledger().heightOf("before-0").isPresent());
    }

    private int indexOfLeader() throws InterruptedException {
        await("a leader is elected", () -> running().stream().anyMatch(Validator::isLeader));
        for (int i = 0; i < VALIDATORS; i++) {
            if (validators[i] != null && validators[i].isLeader()) {
                return i;
            }
        }
        throw new AssertionError("no leader");
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }
}
