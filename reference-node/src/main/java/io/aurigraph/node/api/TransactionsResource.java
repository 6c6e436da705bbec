package io.aurigraph.node.api;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/** {@code POST /api/v11/transactions}: business nodes only; answers once the validators have committed. */
@Path("/api/v11/transactions")
public class TransactionsResource {

    /** The body of a submission. */
    public record Submission(String id, String sender, String recipient, Long amount) {
    }

    private final Submissions submissions;

    public TransactionsResource(Submissions submissions) {
        this.submissions = submissions;
    }

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    public CompletionStage<Response> submit(Submission submission) {
        // Answered on another thread, which does not have this request's MDC.
        String correlationId = CorrelationIdFilter.current();
        CompletionStage<Submissions.Result> result = submission == null
                ? submissions.withoutBody("the request has no body; send {\"id\", \"sender\", \"recipient\", \"amount\"}")
                : submissions.submit(submission.id(), submission.sender(), submission.recipient(), submission.amount());
        return result.thenApply(r -> answer(r, correlationId));
    }

    private static Response answer(Submissions.Result result, String correlationId) {
        return switch (result) {
            case Submissions.Committed c -> Response.status(201).entity(Map.of("id", c.id(), "status", "committed",
                    "height", c.height(), "latencyMillis", c.millis())).build();
            case Submissions.Duplicate d -> Problem.response(409, "duplicate-transaction",
                    "Transaction already committed",
                    "transaction " + d.id() + " was committed at height " + d.height(), correlationId);
            case Submissions.Refused r when r.reason() == Submissions.Reason.WRONG_ROLE ->
                    Problem.response(404, "wrong-role", "Not a business node", r.detail(), correlationId);
            case Submissions.Refused r ->
                    Problem.response(422, "invalid-transaction", "Invalid transaction", r.detail(), correlationId);
            case Submissions.Unavailable u -> retryLater(u.reason() == Submissions.Reason.OVERLOADED
                    ? Problem.response(503, "overloaded", "Node at capacity", u.detail(), correlationId)
                    : Problem.response(503, "not-committed", "Transaction not committed", u.detail(), correlationId));
        };
    }

    /** A 503 that tells the client when to try again. */
    private static Response retryLater(Response problem) {
        return Response.fromResponse(problem).header("Retry-After", "1").build();
    }
}
