package io.aurigraph.node.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/** Turns every error the framework raises into a problem document instead of its default body. */
public class ProblemMappers {

    private static final Logger LOG = Logger.getLogger(ProblemMappers.class);

    @ServerExceptionMapper
    public Response malformedJson(JsonProcessingException error) {
        return Problem.response(400, "malformed-json", "Malformed JSON",
                "the request body is not the JSON this endpoint takes: " + error.getOriginalMessage());
    }

    /** More specific than the JSON extension's own mapper for this type, which answers in plain JSON. */
    @ServerExceptionMapper
    public Response mismatchedJson(MismatchedInputException error) {
        return malformedJson(error);
    }

    @ServerExceptionMapper
    public Response http(WebApplicationException error) {
        if (error.getCause() instanceof JsonProcessingException json) {
            return malformedJson(json);
        }
        int status = error.getResponse().getStatus();
        String title = Response.Status.fromStatusCode(status) == null
                ? "HTTP " + status : Response.Status.fromStatusCode(status).getReasonPhrase();
        return Problem.response(status, "http-" + status, title, error.getMessage());
    }

    @ServerExceptionMapper
    public Response unexpected(RuntimeException error) {
        LOG.error("request failed", error);
        return Problem.response(500, "internal", "Internal error", "the node failed to handle the request");
    }
}
