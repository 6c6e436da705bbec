package io.aurigraph.node.ledger;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A transfer submitted by a client. Identified by a client-chosen id, so that a retried submission is
 * recognised as the same transaction and committed at most once.
 */
public record Transaction(String id, String sender, String recipient, long amount) {

    /** Largest amount one transaction may move; bounds every sum the ledger keeps. */
    public static final long AMOUNT_MAX = 1_000_000_000_000L;

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern ACCOUNT = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");

    /** Why a transaction is refused before it reaches consensus, or empty when it is well formed. */
    public Optional<String> defect() {
        if (id == null || !ID.matcher(id).matches()) {
            return Optional.of("id must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        if (sender == null || !ACCOUNT.matcher(sender).matches()) {
            return Optional.of("sender must be 1 to 64 lower-case letters, digits, '_' or '-'");
        }
        if (recipient == null || !ACCOUNT.matcher(recipient).matches()) {
            return Optional.of("recipient must be 1 to 64 lower-case letters, digits, '_' or '-'");
        }
        if (sender.equals(recipient)) {
            return Optional.of("sender and recipient must differ");
        }
        if (amount <= 0 || amount > AMOUNT_MAX) {
            return Optional.of("amount must be from 1 to " + AMOUNT_MAX);
        }
        return Optional.empty();
    }
}
