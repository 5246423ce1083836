package dev.herd.shard.weights;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** A running SHA-256 with a lowercase hex result, as weight transfer compares them. */
final class Sha256 {
    private final MessageDigest digest;

    Sha256() {
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            // every JDK ships SHA-256 (it is a required algorithm)
            throw new IllegalStateException(e);
        }
    }

    void update(ByteBuffer bytes) {
        digest.update(bytes);
    }

    void update(byte[] bytes, int offset, int length) {
        digest.update(bytes, offset, length);
    }

    String hex() {
        return HexFormat.of().formatHex(digest.digest());
    }
}
