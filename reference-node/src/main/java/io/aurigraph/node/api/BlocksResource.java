package io.aurigraph.node.api;

import io.aurigraph.node.ledger.Block;
import io.aurigraph.node.role.NodeRuntime;
import jakarta.ws.rs.DefaultValue;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;

/** Finalized blocks, from whatever this node's role reads them from. */
@Path("/api/v11/blocks")
@Produces(MediaType.APPLICATION_JSON)
public class BlocksResource {

    static final int LIMIT_MAX = 1_000;

    private final NodeRuntime node;

    public BlocksResource(NodeRuntime node) {
        this.node = node;
    }

    @GET
    @Path("/latest")
    public Response latest() {
        return node.latest()
                .map(block -> Response.ok(block).build())
                .orElseGet(() -> Problem.response(404, "no-block", "No block yet",
                        "no block has been finalized yet (height 0)"));
    }

    /** Blocks above {@code after}, oldest first; slim nodes follow the chain with this. */
    @GET
    public Response after(@QueryParam("after") @DefaultValue("0") long after,
            @QueryParam("limit") @DefaultValue("100") int limit) {
        if (after < 0 || limit < 1 || limit > LIMIT_MAX) {
            return Problem.response(400, "bad-range", "Bad block range",
                    "after must be at least 0 and limit from 1 to " + LIMIT_MAX);
        }
        List<Block> blocks = node.blocksAfter(after, limit);
        return Response.ok(blocks).build();
    }
}
