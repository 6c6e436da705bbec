package io.aurigraph.node.api;

import io.aurigraph.node.consensus.Validator;
import io.aurigraph.node.metrics.NodeMetrics;
import io.aurigraph.node.role.NodeRuntime;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code /api/v11/health} and {@code /api/v11/info}: what an operator or a load balancer asks a node. */
@Path("/api/v11")
@Produces(MediaType.APPLICATION_JSON)
public class NodeResource {

    private final NodeRuntime node;
    private final NodeMetrics metrics;

    public NodeResource(NodeRuntime node, NodeMetrics metrics) {
        this.node = node;
        this.metrics = metrics;
    }

    /** 200 with status UP when the node is ready for traffic, 503 with the reason otherwise. */
    @GET
    @Path("/health")
    public Response health() {
        var reason = node.notReadyBecause();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", reason.isEmpty() ? "UP" : "DOWN");
        body.put("role", node.role().label());
        body.put("height", node.height());
        reason.ifPresent(r -> body.put("reason", r));
        return Response.status(reason.isEmpty() ? 200 : 503).entity(body).build();
    }

    @GET
    @Path("/info")
    public Map<String, Object> info() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", node.id());
        body.put("role", node.role().label());
        body.put("version", metrics.version());
        body.put("revision", metrics.revision());
        body.put("height", node.height());
        node.validator().ifPresent(v -> body.put("consensus", consensus(v)));
        node.signingIdentity().ifPresent(i -> body.put("signingKey", i.fingerprint()));
        node.follower().ifPresent(f -> body.put("syncLagBlocks", f.syncLagBlocks()));
        return body;
    }

    private static Map<String, Object> consensus(Validator validator) {
        Map<String, Object> consensus = new LinkedHashMap<>();
        consensus.put("term", validator.term());
        consensus.put("leader", validator.isLeader());
        consensus.put("commitIndex", validator.commitIndex());
        consensus.put("appliedIndex", validator.appliedIndex());
        consensus.put("peersConnected", validator.peersConnected());
        return consensus;
    }
}
