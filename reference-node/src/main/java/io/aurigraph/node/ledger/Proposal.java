package io.aurigraph.node.ledger;

import java.util.List;

/**
 * What a business node asks the validators to order: a batch of transactions, with the proposer's clock
 * and name. Once committed, a proposal becomes at most one block (none if every transaction in it was
 * already committed).
 */
public record Proposal(long proposedAtMillis, String proposer, List<Transaction> transactions) {

    public Proposal {
        transactions = List.copyOf(transactions);
    }
}
