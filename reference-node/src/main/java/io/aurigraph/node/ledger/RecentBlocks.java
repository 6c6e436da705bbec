package io.aurigraph.node.ledger;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The newest blocks of a chain, oldest first, at most {@code capacity} of them. Not thread-safe. */
public final class RecentBlocks {

    private final int capacity;
    private final ArrayDeque<Block> blocks = new ArrayDeque<>();

    public RecentBlocks(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be positive");
        }
        this.capacity = capacity;
    }

    /** Appends {@code block}, dropping the oldest when full. */
    public void add(Block block) {
        blocks.addLast(block);
        if (blocks.size() > capacity) {
            blocks.removeFirst();
        }
    }

    public Optional<Block> latest() {
        return Optional.ofNullable(blocks.peekLast());
    }

    /** The kept blocks above {@code height}, oldest first, at most {@code limit} of them. */
    public List<Block> after(long height, int limit) {
        List<Block> found = new ArrayList<>();
        for (Block block : blocks) {
            if (block.height() > height && found.size() < limit) {
                found.add(block);
            }
        }
        return found;
    }

    public List<Block> all() {
        return List.copyOf(blocks);
    }

    public void clear() {
        blocks.clear();
    }
}
