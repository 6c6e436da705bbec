package io.aurigraph.node.api;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.aurigraph.node.TestPorts;
import java.util.Map;

/** Puts the app's gRPC server of a {@code @QuarkusTest} on a free port the test knows. */
public class GrpcPortResource implements QuarkusTestResourceLifecycleManager {

    static int port;

    static int freePort() {
        return TestPorts.free();
    }

    @Override
    public Map<String, String> start() {
        port = freePort();
        return Map.of("quarkus.grpc.server.test-port", String.valueOf(port));
    }

    @Override
    public void stop() {
    }
}
