package io.aurigraph.node.role;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The three kinds of Aurigraph node; one artifact plays any of them, chosen by {@code AURIGRAPH_ROLE}. */
public enum Role {
    /** Orders and finalizes transactions as a member of the Raft group; keeps the ledger on disk. */
    VALIDATOR,
    /** Accepts transactions over REST and submits them to the validators. */
    BUSINESS,
    /** Follows finalized blocks from upstream nodes and serves reads. */
    SLIM;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a role name; an unknown one is an error listing the known ones. */
    public static Role parse(String text) {
        for (Role role : values()) {
            if (role.label().equals(text == null ? "" : text.strip().toLowerCase(Locale.ROOT))) {
                return role;
            }
        }
        String known = Arrays.stream(values()).map(Role::label).collect(Collectors.joining(", "));
        throw new IllegalArgumentException("unknown role '" + text + "'; AURIGRAPH_ROLE must be one of " + known);
    }
}
