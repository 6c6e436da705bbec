package io.aurigraph.node.slim;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.aurigraph.node.ledger.Block;
import io.aurigraph.node.ledger.RecentBlocks;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * A slim node's view of the chain: polls upstream nodes for finalized blocks above its height, checks that
 * each one extends its head (same previous hash), and keeps the newest ones for reads.
 */
public final class BlockFollower implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(BlockFollower.class);
    private static final int FETCH_LIMIT = 500;

    private final List<URI> upstreams;
    private final ObjectMapper json;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final RecentBlocks recent;
    private final AtomicLong upstreamHeight = new AtomicLong();
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("block-follower").daemon().factory());
    private volatile long lastContactMillis;
    private int next;

    public BlockFollower(List<URI> upstreams, ObjectMapper json, int recentBlocksMax, long intervalMillis) {
        if (upstreams.isEmpty()) {
            throw new IllegalArgumentException("a slim node needs at least one upstream (aurigraph.upstreams)");
        }
        this.upstreams = List.copyOf(upstreams);
        this.json = json;
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
        URI upstream = upstreams.get(next);
        try {
            List<Block> blocks = fetch(upstream.resolve("/api/v11/blocks?after=" + height() + "&limit=" + FETCH_LIMIT));
            Optional<Block> head = fetchLatest(upstream);
            lastContactMillis = System.currentTimeMillis();
            head.ifPresent(block -> upstreamHeight.set(block.height()));
            append(blocks);
        } catch (IOException | RuntimeException e) {
            LOG.debugf("upstream %s did not answer: %s", upstream, e.getMessage());
            next = (next + 1) % upstreams.size();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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

    private List<Block> fetch(URI uri) throws IOException, InterruptedException {
        HttpResponse<byte[]> response = http.send(
                HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() != 200) {
            throw new IOException(uri + " answered " + response.statusCode());
        }
        return json.readValue(response.body(), new TypeReference<List<Block>>() { });
    }

    private Optional<Block> fetchLatest(URI upstream) throws IOException, InterruptedException {
        HttpResponse<byte[]> response = http.send(
                HttpRequest.newBuilder(upstream.resolve("/api/v11/blocks/latest")).timeout(Duration.ofSeconds(2))
                        .GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() == 404) {
            return Optional.empty();
        }
        if (response.statusCode() != 200) {
            throw new IOException(upstream + " answered " + response.statusCode());
        }
        return Optional.of(json.readValue(response.body(), Block.class));
    }

    @Override
    public void close() {
        poller.shutdownNow();
    }
}
