package io.aurigraph.node.consensus;

import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.proto.RaftProtos.RaftPeerRole;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.TransferLeadershipRequest;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.util.TimeDuration;

/**
 * One validator: a Ratis server of the ledger group, its state machine, and its storage under
 * {@code dataDir} (Raft log, metadata and snapshots). Restarting on the same directory recovers; an
 * empty directory joins the group and catches up from the leader.
 */
public final class Validator implements Closeable {

    private static final System.Logger LOG = System.getLogger(Validator.class.getName());
    private static final long HANDOVER_TIMEOUT_MILLIS = 3_000;

    /** Settings of one validator. {@code snapshotEveryEntries} bounds the log replayed after a restart. */
    public record Settings(String id, ClusterSpec cluster, Path dataDir, long snapshotEveryEntries, int recentBlocksMax) {
    }

    private final Settings settings;
    private final LedgerStateMachine stateMachine;
    private final RaftServer server;
    private volatile boolean closed;

    private Validator(Settings settings, LedgerStateMachine stateMachine, RaftServer server) {
        this.settings = settings;
        this.stateMachine = stateMachine;
        this.server = server;
    }

    public static Validator start(Settings settings) throws IOException {
        RaftProperties properties = new RaftProperties();
        GrpcConfigKeys.Server.setPort(properties, settings.cluster().portOf(settings.id()));
        File storage = settings.dataDir().resolve("raft").toFile();
        RaftServerConfigKeys.setStorageDir(properties, List.of(storage));
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(properties, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(properties, settings.snapshotEveryEntries());
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(properties, 2);
        // Election timeouts sized for loopback and LAN round trips of a few milliseconds: a failed leader is
        // replaced within about a second without elections being triggered by ordinary GC pauses.
        RaftServerConfigKeys.Rpc.setTimeoutMin(properties, TimeDuration.valueOf(400, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Rpc.setTimeoutMax(properties, TimeDuration.valueOf(800, TimeUnit.MILLISECONDS));

        // The leader's log appender waits up to this long to gather entries for a follower; every commit pays
        // it, and proposals are already batched by the business nodes, so it only adds latency.
        RaftServerConfigKeys.Log.Appender.setWaitTimeMin(properties, TimeDuration.ZERO);
        // Ratis otherwise appends a commit-index metadata entry after each commit: a second log write and
        // fsync per block. The commit index is recovered from the log and the snapshot without it.
        RaftServerConfigKeys.Log.setLogMetadataEnabled(properties, false);

        // FORMAT refuses an existing group directory and RECOVER a missing one: pick by what is on disk.
        boolean existing = new File(storage, ClusterSpec.GROUP_ID.getUuid().toString()).isDirectory();
        LedgerStateMachine stateMachine = new LedgerStateMachine(settings.recentBlocksMax());
        RaftServer server = RaftServer.newBuilder()
                .setGroup(settings.cluster().group())
                .setServerId(RaftPeerId.valueOf(settings.id()))
                .setProperties(properties)
                .setStateMachine(stateMachine)
                .setOption(existing ? RaftStorage.StartupOption.RECOVER : RaftStorage.StartupOption.FORMAT)
                .build();
        server.start();
        Validator validator = new Validator(settings, stateMachine, server);
        if (!existing) {
            Thread.ofVirtual().name("readmit-" + settings.id()).start(validator::readmitIfStranded);
        }
        return validator;
    }

    /** How long a validator that started empty waits to receive the group's log before asking to be re-admitted. */
    static final Duration STRANDED_AFTER = Duration.ofSeconds(5);
    /** How long it keeps watching (a group that is still electing its first leader, for example). */
    private static final Duration STRANDED_WATCH = Duration.ofMinutes(10);

    /**
     * For a validator started on an empty data directory: if the group already has blocks and none of its log
     * or snapshots reach this member within {@link #STRANDED_AFTER}, the member lost its data and the leader
     * still believes it holds its old log (Ratis 3.3 keeps probing the old position, RATIS-2523), so the
     * member asks the group to take it out and back in ({@link LedgerClient#readmit}). A brand-new group never
     * triggers this: its members receive the first leader's entry within milliseconds.
     */
    private void readmitIfStranded() {
        long deadline = System.nanoTime() + STRANDED_WATCH.toNanos();
        try (LedgerClient client = new LedgerClient(settings.cluster(), 3_000)) {
            while (!closed && System.nanoTime() < deadline) {
                Thread.sleep(STRANDED_AFTER);
                if (closed || receivedFromGroup()) {
                    return;
                }
                try {
                    if (client.latest().isEmpty()) {
                        continue;
                    }
                    LOG.log(System.Logger.Level.WARNING, "validator {0} started with an empty data directory and has"
                            + " received none of the group''s history; asking the group to re-admit it", settings.id());
                    client.readmit(settings.cluster(), settings.id());
                    LOG.log(System.Logger.Level.INFO, "validator {0} re-admitted; catching up", settings.id());
                    return;
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "re-admission of {0} not possible yet: {1}", settings.id(), e);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "closing the re-admission client failed", e);
        }
    }

    /** Whether any log entry or snapshot of the group has reached this member. */
    private boolean receivedFromGroup() {
        return division().getRaftLog().getLastEntryTermIndex() != null || stateMachine.getLatestSnapshot() != null;
    }

    public String id() {
        return settings.id();
    }

    public LedgerStateMachine ledger() {
        return stateMachine;
    }

    private RaftServer.Division division() {
        try {
            return server.getDivision(ClusterSpec.GROUP_ID);
        } catch (IOException e) {
            throw new IllegalStateException("validator " + settings.id() + " is not in the ledger group", e);
        }
    }

    public long term() {
        return division().getInfo().getCurrentTerm();
    }

    public boolean isLeader() {
        return division().getInfo().isLeader();
    }

    /** Whether this validator knows a leader of the group (it is one, or hears from one). */
    public boolean leaderKnown() {
        return division().getInfo().getLeaderId() != null;
    }

    public long commitIndex() {
        return division().getRaftLog().getLastCommittedIndex();
    }

    public long appliedIndex() {
        return division().getInfo().getLastAppliedIndex();
    }

    /**
     * Peers this validator currently hears from: for the leader, followers that answered within the last
     * election timeout; for a follower, 1 while it knows a leader.
     */
    public int peersConnected() {
        var info = division().getInfo();
        var role = info.getRoleInfoProto();
        if (info.getCurrentRole() == RaftPeerRole.LEADER) {
            return (int) role.getLeaderInfo().getFollowerInfoList().stream()
                    .filter(f -> f.getLastRpcElapsedTimeMs() < 800)
                    .count();
        }
        return info.getLeaderId() == null ? 0 : 1;
    }

    @Override
    public void close() throws IOException {
        closed = true;
        handOverLeadership();
        server.close();
    }

    /**
     * A leader that stops hands leadership to a follower first (trying each in turn, a few seconds each), so
     * commits pause for one election round trip instead of the followers' election timeout. Kubernetes gives a
     * stopping validator its termination grace period (60 s by default) for this.
     */
    boolean handOverLeadership() {
        if (!server.getLifeCycleState().isRunning() || !isLeader()) {
            return false;
        }
        for (RaftPeer peer : settings.cluster().group().getPeers()) {
            if (peer.getId().toString().equals(settings.id())) {
                continue;
            }
            try {
                RaftClientReply reply = server.transferLeadership(new TransferLeadershipRequest(ClientId.randomId(),
                        server.getId(), ClusterSpec.GROUP_ID, 0, peer.getId(), HANDOVER_TIMEOUT_MILLIS));
                if (reply.isSuccess()) {
                    LOG.log(System.Logger.Level.INFO, "{0} handed leadership to {1} before stopping", settings.id(),
                            peer.getId());
                    return true;
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "handing leadership to {0} failed: {1}", peer.getId(),
                        e.getMessage());
            }
        }
        return false;
    }
}
