package io.aurigraph.node.ledger;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInput;
import java.io.DataInputStream;
import java.io.DataOutput;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The binary form of proposals, outcomes and blocks in the replicated log and in snapshots. Versioned by a
 * leading byte so that a node never misreads an entry written by another format.
 */
public final class LedgerCodec {

    private static final byte FORMAT = 1;

    private LedgerCodec() {
    }

    public static byte[] encodeProposal(Proposal proposal) {
        return write(out -> {
            out.writeLong(proposal.proposedAtMillis());
            out.writeUTF(proposal.proposer());
            out.writeInt(proposal.transactions().size());
            for (Transaction tx : proposal.transactions()) {
                out.writeUTF(tx.id());
                out.writeUTF(tx.sender());
                out.writeUTF(tx.recipient());
                out.writeLong(tx.amount());
            }
        });
    }

    public static Proposal decodeProposal(byte[] bytes) {
        return read(bytes, in -> {
            long proposedAt = in.readLong();
            String proposer = in.readUTF();
            int count = in.readInt();
            List<Transaction> transactions = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                transactions.add(new Transaction(in.readUTF(), in.readUTF(), in.readUTF(), in.readLong()));
            }
            return new Proposal(proposedAt, proposer, transactions);
        });
    }

    public static byte[] encodeOutcomes(List<Outcome> outcomes) {
        return write(out -> {
            out.writeInt(outcomes.size());
            for (Outcome outcome : outcomes) {
                out.writeUTF(outcome.transactionId());
                out.writeByte(outcome.status().ordinal());
                out.writeLong(outcome.height());
            }
        });
    }

    public static List<Outcome> decodeOutcomes(byte[] bytes) {
        return read(bytes, in -> {
            int count = in.readInt();
            List<Outcome> outcomes = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                outcomes.add(new Outcome(in.readUTF(), Outcome.Status.values()[in.readByte()], in.readLong()));
            }
            return outcomes;
        });
    }

    public static byte[] encodeBlocks(List<Block> blocks) {
        return write(out -> {
            out.writeInt(blocks.size());
            for (Block block : blocks) {
                writeBlock(out, block);
            }
        });
    }

    public static List<Block> decodeBlocks(byte[] bytes) {
        return read(bytes, in -> {
            int count = in.readInt();
            List<Block> blocks = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                blocks.add(readBlock(in));
            }
            return blocks;
        });
    }

    static void writeBlock(DataOutput out, Block block) throws IOException {
        out.writeLong(block.height());
        out.writeUTF(block.hash());
        out.writeUTF(block.previousHash());
        out.writeLong(block.proposedAtMillis());
        out.writeUTF(block.proposer());
        out.writeInt(block.transactionIds().size());
        for (String id : block.transactionIds()) {
            out.writeUTF(id);
        }
    }

    static Block readBlock(DataInput in) throws IOException {
        long height = in.readLong();
        String hash = in.readUTF();
        String previous = in.readUTF();
        long proposedAt = in.readLong();
        String proposer = in.readUTF();
        int count = in.readInt();
        List<String> ids = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            ids.add(in.readUTF());
        }
        return new Block(height, hash, previous, proposedAt, proposer, ids);
    }

    private interface Writer {
        void write(DataOutput out) throws IOException;
    }

    private interface Reader<T> {
        T read(DataInput in) throws IOException;
    }

    private static byte[] write(Writer writer) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(FORMAT);
            writer.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    private static <T> T read(byte[] bytes, Reader<T> reader) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            byte format = in.readByte();
            if (format != FORMAT) {
                throw new IllegalArgumentException("unknown ledger encoding format " + format);
            }
            return reader.read(in);
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed ledger encoding", e);
        }
    }
}
