package io.aurigraph.node.role;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.HexFormat;

/**
 * A validator's Ed25519 signing key, checked against the network's genesis: the key file (PKCS#8 PEM,
 * {@code AURIGRAPH_SIGNING_KEY_FILE}) must hold the private half of the public key the genesis file
 * ({@code AURIGRAPH_GENESIS_FILE}, {@code {"network": ..., "validators": {"<id>": "<base64 SPKI DER>"}}}) names
 * for this validator. A validator with the wrong key, or none that the genesis knows, does not start.
 *
 * @param fingerprint the first 16 hex digits of the SHA-256 of the public key (SPKI DER), shown by /api/v11/info
 */
public record SigningIdentity(String id, String network, String fingerprint) {

    private static final String ALGORITHM = "Ed25519";

    public static SigningIdentity load(String id, Path keyFile, Path genesisFile) throws IOException {
        PrivateKey key = readPrivateKey(keyFile);
        JsonNode genesis = new ObjectMapper().readTree(genesisFile.toFile());
        JsonNode listed = genesis.path("validators").path(id);
        if (!listed.isTextual()) {
            throw new IllegalStateException("the genesis file " + genesisFile + " names no public key for validator "
                    + id);
        }
        byte[] publicDer;
        PublicKey publicKey;
        try {
            publicDer = Base64.getDecoder().decode(listed.asText());
            publicKey = KeyFactory.getInstance(ALGORITHM).generatePublic(new X509EncodedKeySpec(publicDer));
        } catch (IllegalArgumentException | GeneralSecurityException e) {
            throw new IllegalStateException("the genesis file " + genesisFile + " holds no Ed25519 public key for "
                    + id + ": " + e.getMessage(), e);
        }
        if (!pair(key, publicKey, id)) {
            throw new IllegalStateException("the signing key in " + keyFile + " is not the one the genesis file "
                    + genesisFile + " names for validator " + id);
        }
        return new SigningIdentity(id, genesis.path("network").asText("unnamed"), fingerprint(publicDer));
    }

    private static PrivateKey readPrivateKey(Path keyFile) throws IOException {
        String pem = Files.readString(keyFile, StandardCharsets.US_ASCII);
        String body = pem.replace("-----BEGIN PRIVATE KEY-----", "").replace("-----END PRIVATE KEY-----", "")
                .replaceAll("\\s", "");
        try {
            return KeyFactory.getInstance(ALGORITHM).generatePrivate(new PKCS8EncodedKeySpec(
                    Base64.getDecoder().decode(body)));
        } catch (IllegalArgumentException | GeneralSecurityException e) {
            // The message never quotes the file: it holds a secret.
            throw new IllegalStateException("the signing key file " + keyFile
                    + " is not an Ed25519 private key in PKCS#8 PEM", e);
        }
    }

    /** Signs a probe with the private key and checks it with the public one: they are a pair or not. */
    private static boolean pair(PrivateKey key, PublicKey publicKey, String id) {
        byte[] probe = ("aurigraph signing-key check for " + id).getBytes(StandardCharsets.UTF_8);
        try {
            Signature signer = Signature.getInstance(ALGORITHM);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(ALGORITHM);
            verifier.initVerify(publicKey);
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static String fingerprint(byte[] publicDer) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(publicDer)).substring(0, 16);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
