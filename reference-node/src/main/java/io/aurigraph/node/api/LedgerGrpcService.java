package io.aurigraph.node.api;

import io.aurigraph.node.grpc.Block;
import io.aurigraph.node.grpc.Blocks;
import io.aurigraph.node.grpc.BlocksAfterRequest;
import io.aurigraph.node.grpc.LatestRequest;
import io.aurigraph.node.grpc.Ledger;
import io.aurigraph.node.grpc.Receipt;
import io.aurigraph.node.grpc.Transaction;
import io.aurigraph.node.role.NodeRuntime;
import io.grpc.Status;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Uni;
import java.util.List;

/**
 * The gRPC API on 9004 ({@code src/main/proto/aurigraph_v11.proto}): the same operations and the same checks
 * as the REST API, with gRPC status codes in place of problem documents.
 */
@GrpcService
public class LedgerGrpcService implements Ledger {

    /** Most blocks one {@code BlocksAfter} answer carries (as {@code GET /api/v11/blocks}). */
    public static final int LIMIT_MAX = BlocksResource.LIMIT_MAX;

    private final NodeRuntime node;
    private final Submissions submissions;

    public LedgerGrpcService(NodeRuntime node, Submissions submissions) {
        this.node = node;
        this.submissions = submissions;
    }

    @Override
    public Uni<Receipt> submit(Transaction request) {
        return Uni.createFrom().completionStage(() -> submissions.submit(
                request.getId(), request.getSender(), request.getRecipient(), request.getAmount()))
                .map(LedgerGrpcService::receipt);
    }

    private static Receipt receipt(Submissions.Result result) {
        return switch (result) {
            case Submissions.Committed c ->
                    Receipt.newBuilder().setId(c.id()).setHeight(c.height()).setLatencyMillis(c.millis()).build();
            case Submissions.Duplicate d -> throw Status.ALREADY_EXISTS
                    .withDescription("transaction " + d.id() + " was committed at height " + d.height())
                    .asRuntimeException();
            case Submissions.Refused r when r.reason() == Submissions.Reason.WRONG_ROLE ->
                    throw Status.UNIMPLEMENTED.withDescription(r.detail()).asRuntimeException();
            case Submissions.Refused r -> throw Status.INVALID_ARGUMENT.withDescription(r.detail()).asRuntimeException();
            case Submissions.Unavailable u -> throw Status.UNAVAILABLE.withDescription(u.detail()).asRuntimeException();
        };
    }

    @Override
    @Blocking
    public Uni<Block> latest(LatestRequest request) {
        return Uni.createFrom().item(() -> node.latest().map(LedgerGrpcService::block).orElseThrow(() ->
                Status.NOT_FOUND.withDescription("no block has been finalized yet (height 0)").asRuntimeException()));
    }

    @Override
    @Blocking
    public Uni<Blocks> blocksAfter(BlocksAfterRequest request) {
        return Uni.createFrom().item(() -> {
            if (request.getAfterHeight() < 0 || request.getLimit() < 1 || request.getLimit() > LIMIT_MAX) {
                throw Status.INVALID_ARGUMENT
                        .withDescription("after_height must be at least 0 and limit from 1 to " + LIMIT_MAX)
                        .asRuntimeException();
            }
            List<io.aurigraph.node.ledger.Block> blocks = node.blocksAfter(request.getAfterHeight(), request.getLimit());
            return Blocks.newBuilder()
                    .addAllBlocks(blocks.stream().map(LedgerGrpcService::block).toList())
                    .setHeadHeight(node.height())
                    .build();
        });
    }

    /** The wire form of a block. */
    public static Block block(io.aurigraph.node.ledger.Block block) {
        return Block.newBuilder()
                .setHeight(block.height())
                .setHash(block.hash())
                .setPreviousHash(block.previousHash())
                .setProposedAtMillis(block.proposedAtMillis())
                .setProposer(block.proposer())
                .addAllTransactionIds(block.transactionIds())
                .build();
    }

    /** A block from its wire form. */
    public static io.aurigraph.node.ledger.Block block(Block block) {
        return new io.aurigraph.node.ledger.Block(block.getHeight(), block.getHash(), block.getPreviousHash(),
                block.getProposedAtMillis(), block.getProposer(), block.getTransactionIdsList());
    }
}
