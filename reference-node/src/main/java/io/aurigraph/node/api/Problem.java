package io.aurigraph.node.api;

import jakarta.ws.rs.core.Response;
import org.jboss.logging.MDC;

/**
 * An RFC 9457 problem document: every error the node returns has this body and the media type
 * {@code application/problem+json}, with the request's correlation id so a report can be found in the logs.
 */
public record Problem(String type, String title, int status, String detail, String correlationId) {

    public static final String MEDIA_TYPE = "application/problem+json";

    public static Response response(int status, String slug, String title, String detail) {
        Object correlationId = MDC.get(CorrelationIdFilter.MDC_KEY);
        Problem problem = new Problem("urn:aurigraph:problem:" + slug, title, status, detail,
                correlationId == null ? null : correlationId.toString());
        return Response.status(status).type(MEDIA_TYPE).entity(problem).build();
    }
}
