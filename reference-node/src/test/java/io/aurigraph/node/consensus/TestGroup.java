package io.aurigraph.node.consensus;

import io.aurigraph.node.TestPorts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/** A validator group in this JVM on free loopback ports, for tests: start, stop, wipe and restart members. */
public final class TestGroup implements AutoCloseable {

    // Ratis narrates every election and append at INFO; the tests' own assertions say what matters.
    private static final java.util.logging.Logger RATIS_LOG = java.util.logging.Logger.getLogger("org.apache.ratis");

    static {
        RATIS_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    private final Path dataRoot;
    private final ClusterSpec cluster;
    private final Validator[] validators;

    public TestGroup(int size, Path dataRoot) throws IOException {
        this.dataRoot = dataRoot;
        List<String> peers = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            peers.add("validator-" + i + "=127.0.0.1:" + freePort());
        }
        cluster = ClusterSpec.parse(String.join(",", peers));
        validators = new Validator[size];
        for (int i = 0; i < size; i++) {
            validators[i] = start(i);
        }
    }

    public ClusterSpec cluster() {
        return cluster;
    }

    public Validator get(int index) {
        return validators[index];
    }

    public int size() {
        return validators.length;
    }

    /** Starts member {@code index} on its data directory (recovering it, or joining afresh if empty). */
    public Validator start(int index) throws IOException {
        // A small snapshot interval so that the tests also cross snapshots and log purging.
        validators[index] = Validator.start(new Validator.Settings("validator-" + index, cluster,
                dataRoot.resolve("validator-" + index), 200, 1_000));
        return validators[index];
    }

    public void stop(int index) throws IOException {
        validators[index].close();
        validators[index] = null;
    }

    public void wipe(int index) throws IOException {
        try (Stream<Path> paths = Files.walk(dataRoot.resolve("validator-" + index))) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }

    public List<Validator> running() {
        return Stream.of(validators).filter(v -> v != null).toList();
    }

    public int leaderIndex() throws InterruptedException {
        await("a leader is elected", () -> running().stream().anyMatch(Validator::isLeader));
        for (int i = 0; i < validators.length; i++) {
            if (validators[i] != null && validators[i].isLeader()) {
                return i;
            }
        }
        throw new AssertionError("no leader");
    }

    public long leaderHeight() {
        return running().stream().filter(Validator::isLeader).mapToLong(v -> v.ledger().height()).max().orElse(-1);
    }

    /** Waits until every running member has applied up to the leader's height with the same head hash. */
    public void awaitAgreement() throws InterruptedException {
        await("every running validator agrees with the leader", () -> {
            long height = leaderHeight();
            Set<String> heads = new HashSet<>();
            for (Validator v : running()) {
                if (v.ledger().height() != height) {
                    return false;
                }
                heads.add(v.ledger().headHash());
            }
            return height >= 0 && heads.size() == 1;
        });
    }

    public static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(50);
        }
    }

    private static int freePort() {
        return TestPorts.free();
    }

    @Override
    public void close() throws IOException {
        for (Validator validator : validators) {
            if (validator != null) {
                validator.close();
            }
        }
    }
}
