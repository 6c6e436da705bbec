package io.aurigraph.node;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for the tests' servers, chosen below Linux's ephemeral range (32768 and up by default). A port the system
 * hands out ({@code new ServerSocket(0)}) lies inside that range, so once a test stops a server to restart it, an
 * outgoing connection (a peer retrying) may be given the same port as its local end and the restart fails to bind.
 * Ports below the range are never given to outgoing connections.
 */
public final class TestPorts {

    private static final int FIRST = 20_000;
    private static final int LAST = 32_767;
    private static final Set<Integer> HANDED_OUT = new HashSet<>();

    private TestPorts() {
    }

    /** A port no one listens on now, not handed out before in this JVM. */
    public static synchronized int free() {
        for (int attempt = 0; attempt < 1_000; attempt++) {
            int port = ThreadLocalRandom.current().nextInt(FIRST, LAST + 1);
            if (HANDED_OUT.contains(port)) {
                continue;
            }
            try (ServerSocket socket = new ServerSocket()) {
                socket.setReuseAddress(true);
                socket.bind(new InetSocketAddress(port));
                HANDED_OUT.add(port);
                return port;
            } catch (IOException busy) {
                // taken: try another
            }
        }
        throw new UncheckedIOException(new IOException("no free port between " + FIRST + " and " + LAST));
    }
}
