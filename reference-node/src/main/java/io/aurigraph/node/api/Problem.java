package io.aurigraph.node.api;

import jakarta.ws.rs.core.Response;

/**
 * An RFC 9457 problem document: every error the node returns has this body and the media type
 * {@code application/problem+json}, with the request's correlation id so a report can be found in the logs.
 */
public record Problem(String type, String title, int status, String detail, String correlationId) {

    public static final String MEDIA_TYPE = "application/problem+json";

    /** A problem for the request being served on this thread (its correlation id is in the MDC). */
    public static Response response(int status, String slug, String title, String detail) {
        return response(status, slug, title, detail, CorrelationIdFilter.current());
    }

    /** A problem for a request whose answer is completed on another thread, which has no MDC of the request. */
    public static Response response(int status, String slug, String title, String detail, String correlationId) {
        Problem problem = new Problem("urn:aurigraph:problem:" + slug, title, status, detail, correlationId);
        return Response.status(status).type(MEDIA_TYPE).entity(problem).build();
    }
}
