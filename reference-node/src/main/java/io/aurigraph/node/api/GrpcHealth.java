package io.aurigraph.node.api;

import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.aurigraph.node.grpc.LedgerGrpc;
import io.aurigraph.node.role.NodeRuntime;
import io.quarkus.grpc.runtime.health.GrpcHealthStorage;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the standard gRPC health service ({@code grpc.health.v1.Health} on 9004) in step with readiness: the
 * whole server ("") and {@code aurigraph.v11.Ledger} are SERVING exactly while {@code /q/health/ready} is UP,
 * so gRPC clients and Kubernetes' gRPC probes see what HTTP clients see.
 */
@ApplicationScoped
public class GrpcHealth {

    private static final long INTERVAL_MILLIS = 1_000;

    private final NodeRuntime node;
    private final GrpcHealthStorage health;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("grpc-health").daemon().factory());

    public GrpcHealth(NodeRuntime node, GrpcHealthStorage health) {
        this.node = node;
        this.health = health;
    }

    void start(@Observes StartupEvent event) {
        timer.scheduleWithFixedDelay(this::update, 0, INTERVAL_MILLIS, TimeUnit.MILLISECONDS);
    }

    void stop(@Observes ShutdownEvent event) {
        timer.shutdownNow();
    }

    private void update() {
        ServingStatus status = node.notReadyBecause().isEmpty() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
        health.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, status);
        health.setStatus(LedgerGrpc.SERVICE_NAME, status);
    }
}
