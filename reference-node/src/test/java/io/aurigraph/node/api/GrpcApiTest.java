package io.aurigraph.node.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.aurigraph.node.consensus.TestGroup;
import io.aurigraph.node.grpc.Blocks;
import io.aurigraph.node.grpc.BlocksAfterRequest;
import io.aurigraph.node.grpc.LatestRequest;
import io.aurigraph.node.grpc.LedgerGrpc;
import io.aurigraph.node.grpc.Receipt;
import io.aurigraph.node.grpc.Transaction;
import io.aurigraph.node.slim.BlockFollower;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The gRPC API on a business node in front of a real validator group, and a slim node following it over gRPC. */
@QuarkusTest
@WithTestResource(ValidatorGroupResource.class)
class GrpcApiTest {

    private ManagedChannel channel;
    private LedgerGrpc.LedgerBlockingStub ledger;

    @BeforeEach
    void connect() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", ValidatorGroupResource.grpcPort).usePlaintext().build();
        ledger = LedgerGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
    }

    private static Transaction tx(String id, long amount) {
        return Transaction.newBuilder().setId(id).setSender("alice").setRecipient("bob").setAmount(amount).build();
    }

    private long committedCount() throws InterruptedException {
        ValidatorGroupResource.group.awaitAgreement();
        return ValidatorGroupResource.group.get(0).ledger().transactionCount();
    }

    @Test
    void aSubmissionIsAnsweredOnceCommittedAndReadBack() throws Exception {
        Receipt receipt = ledger.submit(tx("grpc-1", 3));
        assertEquals("grpc-1", receipt.getId());
        assertTrue(receipt.getHeight() >= 1);
        ValidatorGroupResource.group.awaitAgreement();
        assertTrue(ledger.latest(LatestRequest.getDefaultInstance()).getHeight() >= receipt.getHeight());
        Blocks blocks = ledger.blocksAfter(BlocksAfterRequest.newBuilder()
                .setAfterHeight(receipt.getHeight() - 1).setLimit(1).build());
        assertEquals(List.of("grpc-1"), blocks.getBlocks(0).getTransactionIdsList());
        assertTrue(blocks.getHeadHeight() >= receipt.getHeight());
    }

    @Test
    void refusalsCarryTheirStatusCodeAndChangeNothing() throws Exception {
        ledger.submit(tx("grpc-dup", 1));
        long before = committedCount();
        assertCode(Status.Code.ALREADY_EXISTS, () -> ledger.submit(tx("grpc-dup", 1)));
        assertCode(Status.Code.INVALID_ARGUMENT, () -> ledger.submit(tx("grpc-zero", 0)));
        assertCode(Status.Code.INVALID_ARGUMENT, () -> ledger.submit(tx("", 5)));
        assertCode(Status.Code.INVALID_ARGUMENT, () -> ledger.submit(Transaction.newBuilder()
                .setId("grpc-self").setSender("alice").setRecipient("alice").setAmount(1).build()));
        assertCode(Status.Code.INVALID_ARGUMENT, () -> ledger.blocksAfter(BlocksAfterRequest.newBuilder()
                .setAfterHeight(0).setLimit(0).build()));
        assertCode(Status.Code.INVALID_ARGUMENT, () -> ledger.blocksAfter(BlocksAfterRequest.newBuilder()
                .setAfterHeight(-1).setLimit(10).build()));
        assertEquals(before, committedCount());
    }

    @Test
    void theHealthServiceServesWhileTheNodeIsReady() {
        var health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        assertEquals(ServingStatus.SERVING, health.check(HealthCheckRequest.getDefaultInstance()).getStatus());
        assertEquals(ServingStatus.SERVING,
                health.check(HealthCheckRequest.newBuilder().setService(LedgerGrpc.SERVICE_NAME).build()).getStatus());
    }

    @Test
    void aSlimFollowerTakesTheChainOverGrpcAndMovesPastADeadUpstream() throws Exception {
        for (int i = 0; i < 5; i++) {
            ledger.submit(tx("grpc-follow-" + i, 2));
        }
        ValidatorGroupResource.group.awaitAgreement();
        long height = ValidatorGroupResource.group.leaderHeight();
        String head = ValidatorGroupResource.group.get(0).ledger().headHash();
        // The first upstream refuses connections; the follower must move on to the business node.
        try (BlockFollower follower = new BlockFollower(
                List.of("127.0.0.1:9", "127.0.0.1:" + ValidatorGroupResource.grpcPort), 1_000, 50)) {
            TestGroup.await("the follower reaches the validators' height",
                    () -> follower.latest().map(b -> b.height() >= height).orElse(false));
            assertEquals(head, follower.blocksAfter(height - 1, 1).get(0).hash());
            assertEquals(0, follower.syncLagBlocks());
        }
    }

    @Test
    void aFollowerRefusesUpstreamsThatAreNotHostAndPort() {
        var error = assertThrows(IllegalArgumentException.class,
                () -> new BlockFollower(List.of("http://validator-0:9003"), 10, 50));
        assertTrue(error.getMessage().contains("not host:port"), error.getMessage());
    }

    private static void assertCode(Status.Code code, Runnable call) {
        StatusRuntimeException error = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, error.getStatus().getCode(), error.getStatus().toString());
    }
}
