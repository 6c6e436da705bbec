package io.aurigraph.node.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A business node in front of a real validator group: submissions, refusals, reads and metrics. */
@QuarkusTest
@WithTestResource(ValidatorGroupResource.class)
class BusinessApiTest {

    private static String tx(String id, long amount) {
        return "{\"id\":\"" + id + "\",\"sender\":\"alice\",\"recipient\":\"bob\",\"amount\":" + amount + "}";
    }

    /** Transactions committed, read once every validator has applied what the leader has. */
    private static long committedCount() throws InterruptedException {
        ValidatorGroupResource.group.awaitAgreement();
        return ValidatorGroupResource.group.get(0).ledger().transactionCount();
    }

    @Test
    void aTransactionIsAcknowledgedOnceCommittedAndThenServedAsTheLatestBlock() throws Exception {
        int blockHeight = given().contentType("application/json").body(tx("api-1", 5))
                .when().post("/api/v11/transactions")
                .then().statusCode(201)
                .body("status", equalTo("committed")).body("id", equalTo("api-1"))
                .extract().path("height");
        ValidatorGroupResource.group.awaitAgreement();
        given().when().get("/api/v11/blocks/latest").then().statusCode(200)
                .body("height", greaterThan(blockHeight - 1));
        given().when().get("/api/v11/blocks?after=0&limit=1000").then().statusCode(200)
                .body("transactionIds.flatten()", org.hamcrest.Matchers.hasItem("api-1"));
        given().when().get("/api/v11/health").then().statusCode(200).body("status", equalTo("UP"));
        given().when().get("/q/health/ready").then().statusCode(200);
    }

    @Test
    void aResubmittedTransactionIsAConflictAndCommittedOnce() throws Exception {
        given().contentType("application/json").body(tx("api-dup", 1)).post("/api/v11/transactions")
                .then().statusCode(201);
        long before = committedCount();
        given().contentType("application/json").body(tx("api-dup", 1)).header(CorrelationIdFilter.HEADER, "dup-7")
                .when().post("/api/v11/transactions")
                .then().statusCode(409).contentType(Problem.MEDIA_TYPE)
                .body("correlationId", equalTo("dup-7"))
                .body("type", equalTo("urn:aurigraph:problem:duplicate-transaction"))
                .body("detail", containsString("api-dup"));
        assertEquals(before, committedCount());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"id\":\"a\",\"sender\":\"alice\"                      | 400 | malformed-json",
        "[1,2,3]                                                  | 400 | malformed-json",
        "{\"id\":\"a\",\"sender\":\"alice\",\"recipient\":\"bob\",\"amount\":\"ten\"} | 400 | malformed-json",
        "{\"id\":\"a\",\"sender\":\"alice\",\"recipient\":\"bob\",\"amount\":1,\"fee\":2} | 400 | malformed-json",
        "{\"id\":\"a\",\"sender\":\"alice\",\"recipient\":\"alice\",\"amount\":1} | 422 | invalid-transaction",
        "{\"id\":\"a\",\"sender\":\"alice\",\"recipient\":\"bob\",\"amount\":0}   | 422 | invalid-transaction",
        "{\"id\":\"a\",\"sender\":\"alice\",\"recipient\":\"bob\"}                | 422 | invalid-transaction",
        "{\"id\":\"\",\"sender\":\"alice\",\"recipient\":\"bob\",\"amount\":1}    | 422 | invalid-transaction",
    })
    void everyBadSubmissionGetsAProblemAndChangesNothing(String body, int status, String type) throws Exception {
        long before = committedCount();
        given().contentType("application/json").body(body)
                .when().post("/api/v11/transactions")
                .then().statusCode(status).contentType(Problem.MEDIA_TYPE)
                .body("type", equalTo("urn:aurigraph:problem:" + type))
                .body("status", equalTo(status));
        assertEquals(before, committedCount());
    }

    @Test
    void aSubmissionThatIsNotJsonIsRefused() {
        given().contentType("text/plain").body("alice pays bob")
                .when().post("/api/v11/transactions")
                .then().statusCode(415).contentType(Problem.MEDIA_TYPE);
    }

    @Test
    void metricsCountTransactionsByOutcomeAndRecordLatency() {
        given().contentType("application/json").body(tx("api-metrics", 3)).post("/api/v11/transactions")
                .then().statusCode(201);
        given().when().get("/q/metrics").then().statusCode(200)
                .body(containsString("aurigraph_transactions_processed_total{result=\"committed\",role=\"business\"}"))
                // Outcomes not seen yet are exported at 0, so ratios over them exist from the start.
                .body(containsString("aurigraph_transactions_processed_total{result=\"failed\",role=\"business\"} 0.0"))
                .body(containsString("aurigraph_latency_milliseconds_bucket{role=\"business\",le=\"100.0\"}"))
                .body(containsString("aurigraph_build_info{revision=\"test-revision\",role=\"business\""));
    }
}
