package io.aurigraph.node.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

/**
 * The HTTP contract as a slim node with no reachable upstream sees it: reads, health, metrics, and a
 * problem document for every bad request.
 */
@QuarkusTest
@WithTestResource(GrpcPortResource.class)
class SlimApiTest {

    @Test
    void submittingToASlimNodeIsRefusedWithAProblemNamingTheRightRole() {
        given().contentType("application/json").body("{\"id\":\"a\",\"sender\":\"x\",\"recipient\":\"y\",\"amount\":1}")
                .when().post("/api/v11/transactions")
                .then().statusCode(404).contentType(Problem.MEDIA_TYPE)
                .body("type", equalTo("urn:aurigraph:problem:wrong-role"))
                .body("status", equalTo(404))
                .body("detail", containsString("business node"));
    }

    @Test
    void aBodyOverTheLimitIsRefusedBeforeItIsRead() {
        given().contentType("application/json").body("{\"id\":\"" + "x".repeat(70_000) + "\"}")
                .when().post("/api/v11/transactions")
                .then().statusCode(413).contentType(Problem.MEDIA_TYPE)
                .body("type", equalTo("urn:aurigraph:problem:body-too-large"));
    }

    @Test
    void noBlockYetIsAProblemNotAnEmptyBody() {
        given().when().get("/api/v11/blocks/latest")
                .then().statusCode(404).contentType(Problem.MEDIA_TYPE)
                .body("type", equalTo("urn:aurigraph:problem:no-block"));
    }

    @Test
    void aBlockRangeOutOfBoundsIsRefused() {
        given().when().get("/api/v11/blocks?after=0&limit=0")
                .then().statusCode(400).contentType(Problem.MEDIA_TYPE);
        given().when().get("/api/v11/blocks?after=abc")
                .then().statusCode(404).contentType(Problem.MEDIA_TYPE);
    }

    @Test
    void anUnknownPathIsAProblemToo() {
        given().when().get("/api/v11/nothing-here")
                .then().statusCode(404).contentType(Problem.MEDIA_TYPE);
    }

    @Test
    void theProcessIsLiveButNotReadyWithoutAnUpstream() {
        given().when().get("/q/health/live").then().statusCode(200);
        given().when().get("/q/health/ready").then().statusCode(503)
                .body("checks.find { it.name == 'aurigraph-slim' }.data.reason", startsWith("no upstream has answered"));
        given().when().get("/api/v11/health").then().statusCode(503)
                .body("status", equalTo("DOWN")).body("role", equalTo("slim"));
    }

    @Test
    void theGrpcHealthServiceSaysNotServingWhileNotReady() throws Exception {
        // The health service follows readiness once a second.
        Thread.sleep(1_500);
        var channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", GrpcPortResource.port).usePlaintext().build();
        try {
            var health = grpc.health.v1.HealthGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS);
            org.junit.jupiter.api.Assertions.assertEquals(
                    grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus.NOT_SERVING,
                    health.check(grpc.health.v1.HealthOuterClass.HealthCheckRequest.getDefaultInstance()).getStatus());
            // And its Ledger service refuses submissions as the REST API does (this is not a business node).
            var error = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class,
                    () -> io.aurigraph.node.grpc.LedgerGrpc.newBlockingStub(channel).submit(
                            io.aurigraph.node.grpc.Transaction.newBuilder().setId("a").setSender("x")
                                    .setRecipient("y").setAmount(1).build()));
            org.junit.jupiter.api.Assertions.assertEquals(io.grpc.Status.Code.UNIMPLEMENTED, error.getStatus().getCode());
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void infoNamesTheRoleAndBuild() {
        given().when().get("/api/v11/info").then().statusCode(200)
                .body("role", equalTo("slim")).body("version", equalTo("0.1.0")).body("syncLagBlocks", equalTo(0));
    }

    @Test
    void theCorrelationIdOfARequestComesBackInTheHeaderAndTheProblem() {
        given().header(CorrelationIdFilter.HEADER, "req-42").when().get("/api/v11/blocks/latest")
                .then().header(CorrelationIdFilter.HEADER, "req-42").body("correlationId", equalTo("req-42"));
        given().header(CorrelationIdFilter.HEADER, "bad id with spaces").when().get("/api/v11/info")
                .then().header(CorrelationIdFilter.HEADER, org.hamcrest.Matchers.matchesPattern("[0-9a-f-]{36}"));
    }

    @Test
    void metricsCarryTheContractNamesForThisRole() {
        given().when().get("/q/metrics").then().statusCode(200)
                .body(containsString("aurigraph_build_info{"))
                .body(containsString("role=\"slim\""))
                .body(containsString("aurigraph_block_height "))
                .body(containsString("aurigraph_sync_lag_blocks "))
                .body(containsString("jvm_memory_used_bytes"))
                .body(containsString("process_cpu_usage"));
    }
}
