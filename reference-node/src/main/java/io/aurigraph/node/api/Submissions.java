package io.aurigraph.node.api;

import io.aurigraph.node.consensus.ProposalBatcher;
import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Transaction;
import io.aurigraph.node.metrics.NodeMetrics;
import io.aurigraph.node.role.NodeRuntime;
import io.aurigraph.node.role.NodeSettings;
import io.aurigraph.node.role.Role;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Submission of one transaction, as both APIs (REST on 9003, gRPC on 9004) offer it: checks, ordering by the
 * validators, metrics, and what became of it. Each API only translates a {@link Result} into its own terms.
 */
@ApplicationScoped
public class Submissions {

    /** What became of a submission. */
    public sealed interface Result {
    }

    /** Committed at {@code height}, {@code millis} after the node received it. */
    public record Committed(String id, long height, double millis) implements Result {
    }

    /** A transaction with this id was committed before, at {@code height}; nothing changed. */
    public record Duplicate(String id, long height) implements Result {
    }

    /** Refused before ordering (malformed, or this node does not take transactions); nothing changed. */
    public record Refused(Reason reason, String detail) implements Result {
    }

    /** Not known to be committed; resubmitting with the same id is safe and tells its fate. */
    public record Unavailable(Reason reason, String detail) implements Result {
    }

    public enum Reason {
        WRONG_ROLE, INVALID, OVERLOADED, NOT_COMMITTED
    }

    private final NodeRuntime node;
    private final NodeSettings settings;
    private final NodeMetrics metrics;

    public Submissions(NodeRuntime node, NodeSettings settings, NodeMetrics metrics) {
        this.node = node;
        this.settings = settings;
        this.metrics = metrics;
    }

    /** Checks a submission whose amount may be missing (null) and, if it is sound, orders it. */
    public CompletionStage<Result> submit(String id, String sender, String recipient, Long amount) {
        if (node.role() != Role.BUSINESS) {
            return done(wrongRole());
        }
        if (amount == null) {
            return done(refused("amount is required"));
        }
        Transaction transaction = new Transaction(id, sender, recipient, amount);
        var defect = transaction.defect();
        if (defect.isPresent()) {
            return done(refused(defect.get()));
        }
        long started = System.nanoTime();
        return node.submit(transaction)
                .orTimeout(settings.commitTimeoutMillis(), TimeUnit.MILLISECONDS)
                .handle((outcome, error) -> error == null
                        ? settled(outcome, (System.nanoTime() - started) / 1e6)
                        : failed(transaction, error));
    }

    /** A submission without a body: refused ({@code detail} says what to send). */
    public CompletionStage<Result> withoutBody(String detail) {
        return done(node.role() != Role.BUSINESS ? wrongRole() : refused(detail));
    }

    private Result wrongRole() {
        return new Refused(Reason.WRONG_ROLE,
                "this is a " + node.role().label() + " node; submit transactions to a business node");
    }

    private Result refused(String detail) {
        metrics.transactionProcessed("rejected");
        return new Refused(Reason.INVALID, detail);
    }

    private Result settled(Outcome outcome, double millis) {
        if (outcome.status() == Outcome.Status.DUPLICATE) {
            metrics.transactionProcessed("duplicate");
            return new Duplicate(outcome.transactionId(), outcome.height());
        }
        metrics.transactionProcessed("committed");
        metrics.latency(millis);
        return new Committed(outcome.transactionId(), outcome.height(), Math.round(millis * 100) / 100.0);
    }

    private Result failed(Transaction transaction, Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        metrics.transactionProcessed("failed");
        if (cause instanceof ProposalBatcher.Overloaded) {
            return new Unavailable(Reason.OVERLOADED, cause.getMessage());
        }
        String detail = cause instanceof TimeoutException
                ? "not committed within " + settings.commitTimeoutMillis() + " ms"
                : "the validators did not commit it (" + cause.getClass().getSimpleName() + ")";
        return new Unavailable(Reason.NOT_COMMITTED,
                detail + "; it may still commit: resubmit with the same id " + transaction.id() + " to learn its fate");
    }

    private static CompletionStage<Result> done(Result result) {
        return CompletableFuture.completedFuture(result);
    }
}
