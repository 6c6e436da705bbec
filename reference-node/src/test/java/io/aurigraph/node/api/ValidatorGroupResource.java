package io.aurigraph.node.api;

import io.aurigraph.node.consensus.TestGroup;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.Map;
import java.util.stream.Collectors;

/** Runs a three-validator group beside a {@code @QuarkusTest} and makes the app a business node of it. */
public class ValidatorGroupResource implements QuarkusTestResourceLifecycleManager {

    static TestGroup group;
    /** The port of the business node's gRPC API in this test. */
    static int grpcPort;

    @Override
    public Map<String, String> start() {
        try {
            group = new TestGroup(3, Files.createTempDirectory("validators"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String peers = group.cluster().peers().stream()
                .map(p -> p.getId() + "=" + p.getAddress())
                .collect(Collectors.joining(","));
        grpcPort = GrpcPortResource.freePort();
        return Map.of("aurigraph.role", "business", "aurigraph.id", "business-test", "aurigraph.peers", peers,
                "aurigraph.revision", "test-revision", "quarkus.grpc.server.test-port", String.valueOf(grpcPort));
    }

    @Override
    public void stop() {
        try {
            group.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
