package io.aurigraph.node.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

class LedgerTest {

    private static Transaction tx(String id) {
        return new Transaction(id, "alice", "bob", 10);
    }

    private static Proposal proposal(long at, Transaction... transactions) {
        return new Proposal(at, "business-0", List.of(transactions));
    }

    @Test
    void aCommittedProposalBecomesTheNextBlockChainedToThePrevious() {
        Ledger ledger = new Ledger(100);
        ledger.apply(proposal(1, tx("a"), tx("b")));
        ledger.apply(proposal(2, tx("c")));

        assertEquals(2, ledger.height());
        assertEquals(3, ledger.transactionCount());
        Block second = ledger.latest().orElseThrow();
        Block first = ledger.blocksAfter(0, 10).getFirst();
        assertEquals(List.of("a", "b"), first.transactionIds());
        assertEquals(Ledger.GENESIS_HASH, first.previousHash());
        assertEquals(first.hash(), second.previousHash());
        assertEquals(second.hash(), ledger.headHash());
    }

    @Test
    void aTransactionCommittedBeforeIsReportedAsDuplicateAndNotCommittedAgain() {
        Ledger ledger = new Ledger(100);
        ledger.apply(proposal(1, tx("a")));
        List<Outcome> outcomes = ledger.apply(proposal(2, tx("a"), tx("b")));

        assertEquals(List.of(new Outcome("a", Outcome.Status.DUPLICATE, 1), new Outcome("b", Outcome.Status.COMMITTED, 2)),
                outcomes);
        assertEquals(List.of("b"), ledger.latest().orElseThrow().transactionIds());
    }

    @Test
    void aProposalOfOnlyDuplicatesCreatesNoBlock() {
        Ledger ledger = new Ledger(100);
        ledger.apply(proposal(1, tx("a")));
        String head = ledger.headHash();
        ledger.apply(proposal(2, tx("a")));
        assertEquals(1, ledger.height());
        assertEquals(head, ledger.headHash());
    }

    @Test
    void ledgersApplyingTheSameProposalsReachTheSameHead() {
        Ledger one = new Ledger(5);
        Ledger other = new Ledger(50);
        for (int i = 0; i < 20; i++) {
            Proposal p = proposal(i, tx("t" + i), tx("u" + i));
            one.apply(p);
            other.apply(p);
        }
        assertEquals(one.headHash(), other.headHash());
        assertNotEquals(Ledger.GENESIS_HASH, one.headHash());
    }

    @Test
    void aDifferentProposerOrClockMakesADifferentBlock() {
        Ledger one = new Ledger(5);
        Ledger other = new Ledger(5);
        one.apply(new Proposal(1, "business-0", List.of(tx("a"))));
        other.apply(new Proposal(1, "business-1", List.of(tx("a"))));
        assertNotEquals(one.headHash(), other.headHash());
    }

    @Test
    void onlyTheNewestBlocksAreKeptWhole() {
        Ledger ledger = new Ledger(3);
        for (int i = 0; i < 10; i++) {
            ledger.apply(proposal(i, tx("t" + i)));
        }
        assertEquals(List.of(8L, 9L, 10L), ledger.blocksAfter(0, 100).stream().map(Block::height).toList());
        assertEquals(List.of(9L), ledger.blocksAfter(8, 1).stream().map(Block::height).toList());
    }

    @Test
    void aSnapshotRestoresHeightHeadDuplicatesAndRecentBlocks() throws IOException {
        Ledger ledger = new Ledger(4);
        for (int i = 0; i < 6; i++) {
            ledger.apply(proposal(i, tx("t" + i)));
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ledger.writeTo(new DataOutputStream(bytes));

        Ledger restored = new Ledger(4);
        restored.readFrom(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
        assertEquals(ledger.height(), restored.height());
        assertEquals(ledger.headHash(), restored.headHash());
        assertEquals(ledger.blocksAfter(0, 10), restored.blocksAfter(0, 10));
        assertEquals(Outcome.Status.DUPLICATE, restored.apply(proposal(7, tx("t0"))).getFirst().status());
    }

    @Test
    void proposalsOutcomesAndBlocksSurviveTheirEncoding() {
        Proposal proposal = proposal(42, tx("a"), new Transaction("b", "carol", "dave", 7));
        assertEquals(proposal, LedgerCodec.decodeProposal(LedgerCodec.encodeProposal(proposal)));
        List<Outcome> outcomes = List.of(new Outcome("a", Outcome.Status.COMMITTED, 3));
        assertEquals(outcomes, LedgerCodec.decodeOutcomes(LedgerCodec.encodeOutcomes(outcomes)));
        Ledger ledger = new Ledger(10);
        ledger.apply(proposal);
        List<Block> blocks = ledger.blocksAfter(0, 10);
        assertEquals(blocks, LedgerCodec.decodeBlocks(LedgerCodec.encodeBlocks(blocks)));
    }

    @Test
    void anEntryOfAnotherEncodingIsRefusedRatherThanMisread() {
        byte[] bytes = LedgerCodec.encodeProposal(proposal(1, tx("a")));
        bytes[0] = 9;
        var error = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> LedgerCodec.decodeProposal(bytes));
        assertTrue(error.getMessage().contains("format 9"));
    }
}
