package io.aurigraph.node.ledger;

/** What became of one transaction of a committed proposal. */
public record Outcome(String transactionId, Status status, long height) {

    public enum Status {
        /** Committed in the block at {@code height}. */
        COMMITTED,
        /** Refused: a transaction with this id was already committed (at {@code height}). */
        DUPLICATE
    }
}
