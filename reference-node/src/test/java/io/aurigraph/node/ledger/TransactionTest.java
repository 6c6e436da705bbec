package io.aurigraph.node.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TransactionTest {

    @ParameterizedTest
    @CsvSource({
        "tx-1, alice, bob, 1",
        "A.b_c-9, a, b, 1000000000000",
    })
    void wellFormedTransactionsHaveNoDefect(String id, String sender, String recipient, long amount) {
        assertEquals(Optional.empty(), new Transaction(id, sender, recipient, amount).defect());
    }

    @ParameterizedTest
    @CsvSource({
        "'', alice, bob, 1, id must be",
        "-x, alice, bob, 1, id must be",
        "tx, Alice, bob, 1, sender must be",
        "tx, alice, '', 1, recipient must be",
        "tx, alice, alice, 1, sender and recipient must differ",
        "tx, alice, bob, 0, amount must be",
        "tx, alice, bob, -5, amount must be",
        "tx, alice, bob, 1000000000001, amount must be",
    })
    void malformedTransactionsNameTheirDefect(String id, String sender, String recipient, long amount, String defect) {
        assertTrue(new Transaction(id, sender, recipient, amount).defect().orElseThrow().startsWith(defect));
    }
}
