package io.aurigraph.node.consensus;

import io.aurigraph.node.ledger.Block;
import io.aurigraph.node.ledger.Ledger;
import io.aurigraph.node.ledger.LedgerCodec;
import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Proposal;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.ratis.io.MD5Hash;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.MD5FileUtil;

/**
 * The Ratis state machine of a validator: applies committed proposals to its {@link Ledger}, answers
 * read-only queries, and writes and restores snapshots under the Raft storage directory.
 */
public final class LedgerStateMachine extends BaseStateMachine {

    /** The index Ratis uses for "no entry". */
    private static final long NO_INDEX = -1;

    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    private final Ledger ledger;
    private final AtomicLong leaderChanges = new AtomicLong();
    private final AtomicLong blocksCreated = new AtomicLong();
    private final AtomicLong transactionsCommitted = new AtomicLong();
    private volatile long lastBlockProposedAtMillis;
    private volatile long lastBlockAppliedAtMillis;

    public LedgerStateMachine(int recentBlocksMax) {
        this.ledger = new Ledger(recentBlocksMax);
    }

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        super.initialize(server, groupId, raftStorage);
        storage.init(raftStorage);
        reinitialize();
    }

    @Override
    public SimpleStateMachineStorage getStateMachineStorage() {
        return storage;
    }

    @Override
    public synchronized void reinitialize() throws IOException {
        SingleFileSnapshotInfo snapshot = storage.getLatestSnapshot();
        if (snapshot == null) {
            return;
        }
        File file = snapshot.getFile().getPath().toFile();
        MD5Hash digest = snapshot.getFile().getFileDigest();
        if (digest != null) {
            MD5FileUtil.verifySavedMD5(file, digest);
        }
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file.toPath())))) {
            ledger.readFrom(in);
        }
        setLastAppliedTermIndex(snapshot.getTermIndex());
    }

    @Override
    public synchronized long takeSnapshot() throws IOException {
        TermIndex last = getLastAppliedTermIndex();
        if (last == null || last.getIndex() < 0) {
            return NO_INDEX;
        }
        File file = storage.getSnapshotFile(last.getTerm(), last.getIndex());
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file.toPath())))) {
            ledger.writeTo(out);
        }
        MD5Hash digest = MD5FileUtil.computeAndSaveMd5ForFile(file);
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(new FileInfo(file.toPath(), digest), last));
        return last.getIndex();
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        Proposal proposal = LedgerCodec.decodeProposal(entry.getStateMachineLogEntry().getLogData().toByteArray());
        List<Outcome> outcomes;
        synchronized (this) {
            long before = ledger.height();
            outcomes = ledger.apply(proposal);
            if (ledger.height() > before) {
                blocksCreated.incrementAndGet();
                lastBlockProposedAtMillis = proposal.proposedAtMillis();
                lastBlockAppliedAtMillis = System.currentTimeMillis();
            }
            updateLastAppliedTermIndex(entry.getTerm(), entry.getIndex());
        }
        transactionsCommitted.addAndGet(outcomes.stream().filter(o -> o.status() == Outcome.Status.COMMITTED).count());
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(LedgerCodec.encodeOutcomes(outcomes))));
    }

    @Override
    public synchronized CompletableFuture<Message> query(Message request) {
        ByteBuffer query = request.getContent().asReadOnlyByteBuffer();
        long after = query.getLong();
        int limit = query.getInt();
        List<Block> blocks = after < 0 ? ledger.latest().stream().toList() : ledger.blocksAfter(after, limit);
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(LedgerCodec.encodeBlocks(blocks))));
    }

    /** The query for the newest block ({@code after < 0}) or the kept blocks above {@code after}. */
    static Message blocksQuery(long after, int limit) {
        ByteBuffer buffer = ByteBuffer.allocate(Long.BYTES + Integer.BYTES).putLong(after).putInt(limit);
        return Message.valueOf(ByteString.copyFrom(buffer.flip()));
    }

    @Override
    public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
        leaderChanges.incrementAndGet();
    }

    public synchronized long height() {
        return ledger.height();
    }

    public synchronized String headHash() {
        return ledger.headHash();
    }

    public synchronized long transactionCount() {
        return ledger.transactionCount();
    }

    public synchronized Optional<Long> heightOf(String transactionId) {
        return ledger.heightOf(transactionId);
    }

    public synchronized List<Block> blocksAfter(long height, int limit) {
        return ledger.blocksAfter(height, limit);
    }

    public synchronized Optional<Block> latest() {
        return ledger.latest();
    }

    public long leaderChanges() {
        return leaderChanges.get();
    }

    public long blocksCreated() {
        return blocksCreated.get();
    }

    public long transactionsCommitted() {
        return transactionsCommitted.get();
    }

    /** Seconds between the newest block's proposal and its application here: how far finality trails. */
    public double finalityLagSeconds() {
        long proposed = lastBlockProposedAtMillis;
        return proposed == 0 ? 0 : Math.max(0, lastBlockAppliedAtMillis - proposed) / 1000.0;
    }
}
