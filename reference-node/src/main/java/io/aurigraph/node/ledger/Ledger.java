package io.aurigraph.node.ledger;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The replicated ledger state: a hash chain of blocks and the ids of every committed transaction.
 *
 * <p>Deterministic by construction: {@link #apply} depends only on the state and the proposal, so every
 * validator that applies the same committed log reaches the same height and the same {@link #headHash()}.
 * Not thread-safe; the consensus adapter serialises access.
 */
public final class Ledger {

    /** The hash the first block points back to. */
    public static final String GENESIS_HASH = "0".repeat(64);

    private final RecentBlocks recentBlocks;
    private final Map<String, Long> committedAt = new HashMap<>();
    private long height;
    private String headHash = GENESIS_HASH;

    /** @param recentBlocksMax how many of the newest blocks are kept whole for readers and followers */
    public Ledger(int recentBlocksMax) {
        this.recentBlocks = new RecentBlocks(recentBlocksMax);
    }

    public long height() {
        return height;
    }

    public String headHash() {
        return headHash;
    }

    public long transactionCount() {
        return committedAt.size();
    }

    /** The height of the block that committed transaction {@code id}, if it was committed. */
    public Optional<Long> heightOf(String id) {
        return Optional.ofNullable(committedAt.get(id));
    }

    public Optional<Block> latest() {
        return recentBlocks.latest();
    }

    /** The kept blocks above {@code height}, oldest first, at most {@code limit} of them. */
    public List<Block> blocksAfter(long height, int limit) {
        return recentBlocks.after(height, limit);
    }

    /** Applies a committed proposal; returns each transaction's outcome in proposal order. */
    public List<Outcome> apply(Proposal proposal) {
        List<Outcome> outcomes = new ArrayList<>(proposal.transactions().size());
        List<String> accepted = new ArrayList<>();
        long next = height + 1;
        for (Transaction tx : proposal.transactions()) {
            Long earlier = committedAt.get(tx.id());
            if (earlier != null) {
                outcomes.add(new Outcome(tx.id(), Outcome.Status.DUPLICATE, earlier));
            } else {
                committedAt.put(tx.id(), next);
                accepted.add(tx.id());
                outcomes.add(new Outcome(tx.id(), Outcome.Status.COMMITTED, next));
            }
        }
        if (!accepted.isEmpty()) {
            Block block = new Block(next, blockHash(next, headHash, proposal, accepted), headHash,
                    proposal.proposedAtMillis(), proposal.proposer(), accepted);
            height = next;
            headHash = block.hash();
            recentBlocks.add(block);
        }
        return outcomes;
    }

    static String blockHash(long height, String previousHash, Proposal proposal, List<String> transactionIds) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update((height + "\n" + previousHash + "\n" + proposal.proposedAtMillis() + "\n"
                    + proposal.proposer() + "\n").getBytes(StandardCharsets.UTF_8));
            for (String id : transactionIds) {
                digest.update((id + "\n").getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java runtime", e);
        }
    }

    /** Writes the whole state; {@link #readFrom} restores it exactly. */
    public void writeTo(DataOutput out) throws IOException {
        out.writeLong(height);
        out.writeUTF(headHash);
        out.writeInt(committedAt.size());
        for (Map.Entry<String, Long> entry : committedAt.entrySet()) {
            out.writeUTF(entry.getKey());
            out.writeLong(entry.getValue());
        }
        List<Block> kept = recentBlocks.all();
        out.writeInt(kept.size());
        for (Block block : kept) {
            LedgerCodec.writeBlock(out, block);
        }
    }

    /** Replaces this ledger's state with the one written by {@link #writeTo}. */
    public void readFrom(DataInput in) throws IOException {
        height = in.readLong();
        headHash = in.readUTF();
        committedAt.clear();
        for (int i = in.readInt(); i > 0; i--) {
            committedAt.put(in.readUTF(), in.readLong());
        }
        recentBlocks.clear();
        for (int i = in.readInt(); i > 0; i--) {
            recentBlocks.add(LedgerCodec.readBlock(in));
        }
    }
}
