package io.aurigraph.node.consensus;

import io.aurigraph.node.ledger.Block;
import io.aurigraph.node.ledger.LedgerCodec;
import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Proposal;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.TimeDuration;

/**
 * A Raft client of the ledger group, as a business node uses it: proposals are acknowledged only once
 * committed by a majority of validators, so an acknowledged transaction survives the loss of any minority.
 */
public final class LedgerClient implements Closeable {

    private final RaftClient client;

    public LedgerClient(ClusterSpec cluster, long requestTimeoutMillis) {
        RaftProperties properties = new RaftProperties();
        TimeDuration timeout = TimeDuration.valueOf(requestTimeoutMillis, TimeUnit.MILLISECONDS);
        RaftClientConfigKeys.Rpc.setRequestTimeout(properties, timeout);
        this.client = RaftClient.newBuilder()
                .setProperties(properties)
                .setRaftGroup(cluster.group())
                // Bounded: while a new leader is elected requests are retried, after that they fail.
                .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(
                        20, TimeDuration.valueOf(100, TimeUnit.MILLISECONDS)))
                .build();
    }

    /** Orders ``proposal``; completes with each transaction's outcome once the proposal is committed. */
    public CompletableFuture<List<Outcome>> submit(Proposal proposal) {
        Message message = Message.valueOf(ByteString.copyFrom(LedgerCodec.encodeProposal(proposal)));
        return client.async().send(message).thenApply(reply -> LedgerCodec.decodeOutcomes(content(reply)));
    }

    /** The newest finalized block, read linearizably from the leader. */
    public Optional<Block> latest() {
        return read(-1, 1).stream().findFirst();
    }

    /** Finalized blocks above {@code height}, oldest first. */
    public List<Block> blocksAfter(long height, int limit) {
        return read(height, limit);
    }

    /**
     * Takes validator {@code id} out of the group and back in. For a validator that lost its data
     * directory: Raft must not count an amnesiac member's old votes and log, and the leader forgets what
     * it knew of the member's log only through a membership change (without one, Ratis 3.3 keeps probing
     * the old position, RATIS-2523).
     */
    public void readmit(ClusterSpec cluster, String id) throws IOException {
        List<RaftPeer> others = cluster.peers().stream().filter(p -> !p.getId().toString().equals(id)).toList();
        check(client.admin().setConfiguration(others));
        check(client.admin().setConfiguration(cluster.peers()));
    }

    private static void check(RaftClientReply reply) throws IOException {
        if (!reply.isSuccess()) {
            throw new IOException("the validator group refused the membership change", reply.getException());
        }
    }

    private List<Block> read(long after, int limit) {
        try {
            return LedgerCodec.decodeBlocks(content(client.io().sendReadOnly(LedgerStateMachine.blocksQuery(after, limit))));
        } catch (IOException e) {
            throw new UncheckedIOException("reading blocks from the validators failed", e);
        }
    }

    private static byte[] content(RaftClientReply reply) {
        if (!reply.isSuccess()) {
            throw new IllegalStateException("the validators refused the request", reply.getException());
        }
        return reply.getMessage().getContent().toByteArray();
    }

    @Override
    public void close() throws IOException {
        client.close();
    }
}
