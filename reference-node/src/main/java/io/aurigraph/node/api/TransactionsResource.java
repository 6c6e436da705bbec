package io.aurigraph.node.api;

import io.aurigraph.node.consensus.ProposalBatcher;
import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Transaction;
import io.aurigraph.node.metrics.NodeMetrics;
import io.aurigraph.node.role.NodeRuntime;
import io.aurigraph.node.role.NodeSettings;
import io.aurigraph.node.role.Role;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** {@code POST /api/v11/transactions}: business nodes only; answers once the validators have committed. */
@Path("/api/v11/transactions")
public class TransactionsResource {

    /** The body of a submission. */
    public record Submission(String id, String sender, String recipient, Long amount) {
    }

    private final NodeRuntime node;
    private final NodeSettings settings;
    private final NodeMetrics metrics;

    public TransactionsResource(NodeRuntime node, NodeSettings settings, NodeMetrics metrics) {
        this.node = node;
        this.settings = settings;
        this.metrics = metrics;
    }

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    public CompletionStage<Response> submit(Submission submission) {
        if (node.role() != Role.BUSINESS) {
            return done(Problem.response(404, "wrong-role", "Not a business node",
                    "this is a " + node.role().label() + " node; submit transactions to a business node"));
        }
        if (submission == null) {
            return done(rejected("the request has no body; send {\"id\", \"sender\", \"recipient\", \"amount\"}"));
        }
        if (submission.amount() == null) {
            return done(rejected("amount is required"));
        }
        Transaction transaction = new Transaction(submission.id(), submission.sender(), submission.recipient(),
                submission.amount());
        var defect = transaction.defect();
        if (defect.isPresent()) {
            return done(rejected(defect.get()));
        }
        long started = System.nanoTime();
        String correlationId = CorrelationIdFilter.current();
        return node.submit(transaction)
                .orTimeout(settings.commitTimeoutMillis(), TimeUnit.MILLISECONDS)
                .handle((outcome, error) -> {
                    double millis = (System.nanoTime() - started) / 1e6;
                    return error == null ? answer(outcome, millis, correlationId)
                            : failure(transaction, error, correlationId);
                });
    }

    private Response answer(Outcome outcome, double millis, String correlationId) {
        if (outcome.status() == Outcome.Status.DUPLICATE) {
            metrics.transactionProcessed("duplicate");
            return Problem.response(409, "duplicate-transaction", "Transaction already committed",
                    "transaction " + outcome.transactionId() + " was committed at height " + outcome.height(),
                    correlationId);
        }
        metrics.transactionProcessed("committed");
        metrics.latency(millis);
        return Response.status(201).entity(Map.of("id", outcome.transactionId(), "status", "committed",
                "height", outcome.height(), "latencyMillis", Math.round(millis * 100) / 100.0)).build();
    }

    private Response failure(Transaction transaction, Throwable error, String correlationId) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        metrics.transactionProcessed("failed");
        if (cause instanceof ProposalBatcher.Overloaded) {
            return retryLater(Problem.response(503, "overloaded", "Node at capacity", cause.getMessage(), correlationId));
        }
        String detail = cause instanceof TimeoutException
                ? "not committed within " + settings.commitTimeoutMillis() + " ms"
                : "the validators did not commit it (" + cause.getClass().getSimpleName() + ")";
        return retryLater(Problem.response(503, "not-committed", "Transaction not committed",
                detail + "; it may still commit: resubmit with the same id " + transaction.id() + " to learn its fate",
                correlationId));
    }

    /** A 503 that tells the client when to try again. */
    private static Response retryLater(Response problem) {
        return Response.fromResponse(problem).header("Retry-After", "1").build();
    }

    private Response rejected(String detail) {
        metrics.transactionProcessed("rejected");
        return Problem.response(422, "invalid-transaction", "Invalid transaction", detail);
    }

    private static CompletionStage<Response> done(Response response) {
        return CompletableFuture.completedFuture(response);
    }
}
