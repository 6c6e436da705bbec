package io.aurigraph.node.ledger;

import java.util.List;

/**
 * A finalized block: the transactions one committed proposal added, chained to its predecessor by hash.
 * Every validator derives the same block from the same proposal, so equal hashes mean equal histories.
 */
public record Block(
        long height, String hash, String previousHash, long proposedAtMillis, String proposer,
        List<String> transactionIds) {

    public Block {
        transactionIds = List.copyOf(transactionIds);
    }
}
