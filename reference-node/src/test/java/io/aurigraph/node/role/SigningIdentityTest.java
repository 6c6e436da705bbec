package io.aurigraph.node.role;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The signing key a validator is given must be the one the genesis names for it, or the validator stops. */
class SigningIdentityTest {

    @TempDir
    Path dir;

    private static KeyPair pair() throws Exception {
        return KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    }

    private Path key(KeyPair pair) throws Exception {
        String pem = "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(pair.getPrivate().getEncoded())
                + "\n-----END PRIVATE KEY-----\n";
        return Files.writeString(dir.resolve("key.pem"), pem);
    }

    private Path genesis(String id, KeyPair pair) throws Exception {
        String publicKey = Base64.getEncoder().encodeToString(pair.getPublic().getEncoded());
        return Files.writeString(dir.resolve("genesis.json"),
                "{\"network\":\"test\",\"validators\":{\"" + id + "\":\"" + publicKey + "\"}}");
    }

    @Test
    void theKeyTheGenesisNamesIsAccepted() throws Exception {
        KeyPair pair = pair();
        SigningIdentity identity = SigningIdentity.load("validator-0", key(pair), genesis("validator-0", pair));
        assertEquals("test", identity.network());
        assertEquals(16, identity.fingerprint().length());
    }

    @Test
    void anotherValidatorsKeyIsRefused() throws Exception {
        Path key = key(pair());
        Path genesis = genesis("validator-0", pair());
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> SigningIdentity.load("validator-0", key, genesis));
        assertEquals("the signing key in " + key + " is not the one the genesis file " + genesis
                + " names for validator validator-0", refused.getMessage());
    }

    @Test
    void aValidatorTheGenesisDoesNotNameIsRefused() throws Exception {
        KeyPair pair = pair();
        Path key = key(pair);
        Path genesis = genesis("validator-0", pair);
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> SigningIdentity.load("validator-9", key, genesis));
        assertEquals("the genesis file " + genesis + " names no public key for validator validator-9",
                refused.getMessage());
    }

    @Test
    void aFileThatIsNoKeyIsRefusedWithoutQuotingIt() throws Exception {
        Path key = Files.writeString(dir.resolve("key.pem"), "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
        Path genesis = genesis("validator-0", pair());
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> SigningIdentity.load("validator-0", key, genesis));
        assertEquals("the signing key file " + key + " is not an Ed25519 private key in PKCS#8 PEM",
                refused.getMessage());
        assertFalse(refused.getMessage().contains("c2VjcmV0"));
    }
}
