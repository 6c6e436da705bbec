package io.aurigraph.node.api;

import io.aurigraph.node.role.NodeSettings;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Response;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/** Refuses a body larger than {@code aurigraph.request-bytes-max} before anything reads it. */
public class BodySizeFilter {

    private final NodeSettings settings;

    public BodySizeFilter(NodeSettings settings) {
        this.settings = settings;
    }

    @ServerRequestFilter
    public Response limit(ContainerRequestContext request) {
        if (request.getLength() > settings.requestBytesMax()) {
            return Problem.response(413, "body-too-large", "Request body too large",
                    "the body has " + request.getLength() + " bytes; at most " + settings.requestBytesMax() + " are accepted");
        }
        return null;
    }
}
