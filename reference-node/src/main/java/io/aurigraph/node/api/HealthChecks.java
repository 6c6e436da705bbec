package io.aurigraph.node.api;

import io.aurigraph.node.role.NodeRuntime;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/**
 * {@code /q/health/live} says the process serves requests (a failing liveness probe restarts the pod);
 * {@code /q/health/ready} says it should receive traffic now (a failing one only takes it out of the
 * Service), so losing the validator group makes a node unready, never restarted.
 */
public class HealthChecks {

    @Liveness
    @ApplicationScoped
    public static class Live implements HealthCheck {
        @Override
        public HealthCheckResponse call() {
            return HealthCheckResponse.up("aurigraph-node");
        }
    }

    @Readiness
    @ApplicationScoped
    public static class Ready implements HealthCheck {
        private final NodeRuntime node;

        public Ready(NodeRuntime node) {
            this.node = node;
        }

        @Override
        public HealthCheckResponse call() {
            var reason = node.notReadyBecause();
            var response = HealthCheckResponse.named("aurigraph-" + (node.role() == null ? "node" : node.role().label()))
                    .status(reason.isEmpty());
            reason.ifPresent(r -> response.withData("reason", r));
            return response.build();
        }
    }
}
