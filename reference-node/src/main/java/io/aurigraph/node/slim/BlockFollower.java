package io.aurigraph.node.slim;

import io.aurigraph.node.api.LedgerGrpcService;
import io.aurigraph.node.grpc.Blocks;
import io.aurigraph.node.grpc.BlocksAfterRequest;
import io.aurigraph.node.grpc.LedgerGrpc;
import io.aurigraph.node.ledger.Block;
import io.aurigraph.node.ledger.RecentBlocks;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;

/**
 * A slim node's view of the chain: asks upstream nodes (validators or business nodes, over their gRPC API on
 * 9004) for finalized blocks above its height, checks that each one extends its head (same previous hash),
 * and keeps the newest ones for reads. On an upstream that does not answer it moves to the next one.
 */
public final class BlockFollower implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(BlockFollower.class);
    private static final Pattern TARGET = Pattern.compile("[A-Za-z0-9.-]+:[0-9]{1,5}");
    private static final long DEADLINE_MILLIS = 2_000;

    private final List<String> upstreams;
    private final List<ManagedChannel> channels;
    private final RecentBlocks recent;
    private final AtomicLong upstreamHeight = new AtomicLong();
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("block-follower").daemon().factory());
    private volatile long lastContactMillis;
    private int next;

    /**
     * Follows {@code upstreams}, each {@code host:port} of a node's gRPC API, asking every
     * {@code intervalMillis}.
     */
    public BlockFollower(List<String> upstreams, int recentBlocksMax, long intervalMillis) {
        if (upstreams.isEmpty()) {
            throw new IllegalArgumentException("a slim node needs at least one upstream (aurigraph.upstreams)");
        }
        for (String upstream : upstreams) {
            if (!TARGET.matcher(upstream).matches()) {
                throw new IllegalArgumentException("upstream '" + upstream
                        + "' is not host:port of a node's gRPC API (for example validator-0.validators:9004)");
            }
        }
        this.upstreams = List.copyOf(upstreams);
        this.channels = upstreams.stream()
                .map(u -> (ManagedChannel) ManagedChannelBuilder.forTarget(u).usePlaintext().build())
                .toList();
        this.recent = new RecentBlocks(recentBlocksMax);
        poller.scheduleWithFixedDelay(this::poll, 0, intervalMillis, TimeUnit.MILLISECONDS);
    }

    public synchronized long height() {
        return recent.latest().map(Block::height).orElse(0L);
    }

    public synchronized Optional<Block> latest() {
        return recent.latest();
    }

    public synchronized List<Block> blocksAfter(long height, int limit) {
        return recent.after(height, limit);
    }

    /** Blocks the upstream has finalized that this node has not yet taken. */
    public long syncLagBlocks() {
        return Math.max(0, upstreamHeight.get() - height());
    }

    /** Milliseconds since an upstream last answered, or -1 before the first answer. */
    public long sinceContactMillis() {
        long last = lastContactMillis;
        return last == 0 ? -1 : System.currentTimeMillis() - last;
    }

    private void poll() {
        int index = next;
        try {
            Blocks answer = LedgerGrpc.newBlockingStub(channels.get(index))
                    .withDeadlineAfter(DEADLINE_MILLIS, TimeUnit.MILLISECONDS)
                    .blocksAfter(BlocksAfterRequest.newBuilder()
                            .setAfterHeight(height()).setLimit(LedgerGrpcService.LIMIT_MAX).build());
            lastContactMillis = System.currentTimeMillis();
            upstreamHeight.set(answer.getHeadHeight());
            append(answer.getBlocksList().stream().map(LedgerGrpcService::block).toList());
        } catch (StatusRuntimeException e) {
            LOG.debugf("upstream %s did not answer: %s", upstreams.get(index), e.getStatus());
            next = (index + 1) % upstreams.size();
        }
    }

    private synchronized void append(List<Block> blocks) {
        for (Block block : blocks) {
            Block head = recent.latest().orElse(null);
            if (head != null && (block.height() != head.height() + 1 || !block.previousHash().equals(head.hash()))) {
                // Upstream's history does not extend ours: stop here rather than accept a fork or a gap.
                LOG.warnf("block %d from upstream does not extend head %d; not taken", block.height(), head.height());
                return;
            }
            recent.add(block);
        }
    }

    @Override
    public void close() {
        poller.shutdownNow();
        channels.forEach(ManagedChannel::shutdownNow);
    }
}
