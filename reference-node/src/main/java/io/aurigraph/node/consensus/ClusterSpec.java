package io.aurigraph.node.consensus;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;

/**
 * The validator group every node is configured with: peer ids and their Raft addresses, written
 * {@code validator-0=host:9005,validator-1=host:9005,...}.
 */
public record ClusterSpec(List<RaftPeer> peers) {

    /** Fixed so that every node, started anywhere, joins the same group. */
    public static final RaftGroupId GROUP_ID =
            RaftGroupId.valueOf(UUID.nameUUIDFromBytes("aurigraph-ledger".getBytes(StandardCharsets.UTF_8)));

    private static final Pattern PEER = Pattern.compile("([a-z0-9][a-z0-9-]{0,62})=([A-Za-z0-9.-]+:[0-9]{1,5})");

    public ClusterSpec {
        peers = List.copyOf(peers);
    }

    /** Parses the peer list; a malformed or duplicated entry is an error naming it. */
    public static ClusterSpec parse(String text) {
        List<RaftPeer> peers = new ArrayList<>();
        Set<String> ids = new LinkedHashSet<>();
        for (String item : text.split(",")) {
            String entry = item.strip();
            var match = PEER.matcher(entry);
            if (!match.matches()) {
                throw new IllegalArgumentException("peer '" + entry + "' is not of the form id=host:port");
            }
            if (!ids.add(match.group(1))) {
                throw new IllegalArgumentException("peer id '" + match.group(1) + "' appears twice");
            }
            peers.add(RaftPeer.newBuilder().setId(match.group(1)).setAddress(match.group(2)).build());
        }
        return new ClusterSpec(peers);
    }

    public RaftGroup group() {
        return RaftGroup.valueOf(GROUP_ID, peers);
    }

    /** The port of peer {@code id}, the one its Raft server listens on. */
    public int portOf(String id) {
        for (RaftPeer peer : peers) {
            if (peer.getId().toString().equals(id)) {
                String address = peer.getAddress();
                return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
            }
        }
        throw new IllegalArgumentException("validator id '" + id + "' is not one of the configured peers");
    }
}
