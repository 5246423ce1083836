package dev.herd.model.tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-pair encoding by merge rank, as the Rust library's {@code BPE} model: a piece starts as one symbol
 * per character and the adjacent pair whose merge has the lowest rank is merged (leftmost first among equal
 * ranks) until no listed merge applies.
 *
 * <p>The candidate pairs sit in a binary heap keyed by (rank, position) over a linked list of symbols, so a
 * piece of n characters costs O(n log n) rather than the O(n²) of rescanning for the best pair after every
 * merge. Stale heap entries (a side already merged away) are recognised when popped and dropped. Results for
 * short pieces are cached: natural text repeats the same words constantly.
 */
final class BpeModel implements TokenModel {
    private static final long NO_MERGE = -1L;
    private static final int CACHE_CAPACITY = 20_000;
    private static final int CACHE_MAX_PIECE = 256;

    private final TokenVocabulary vocab;
    private final LongLongMap merges;
    private final boolean byteFallback;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final String continuingSubwordPrefix;
    private final String endOfWordSuffix;
    /** Ids of the characters U+0000..U+01FF, the byte-level alphabet included, to skip a map look-up. */
    private final int[] smallCharIds = new int[0x200];
    private final int[] byteFallbackIds;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param merges pairs of vocabulary entries in rank order (rank = index)
     * @param where  names the source in error messages
     */
    BpeModel(Map<String, Integer> vocab, List<String[]> merges, String unkToken, boolean byteFallback, boolean fuseUnk,
             boolean ignoreMerges, String continuingSubwordPrefix, String endOfWordSuffix, String where) {
        this.vocab = TokenVocabulary.of(vocab, where); // owned from here on: the loaders build it for this model alone
        this.byteFallback = byteFallback;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        this.continuingSubwordPrefix = continuingSubwordPrefix == null || continuingSubwordPrefix.isEmpty()
                ? null : continuingSubwordPrefix;
        this.endOfWordSuffix = endOfWordSuffix == null || endOfWordSuffix.isEmpty() ? null : endOfWordSuffix;
        if (unkToken != null) {
            Integer id = this.vocab.find(unkToken);
            if (id == null) {
                throw new dev.herd.model.weights.ModelFormatException(
                        where + ": model.unk_token '" + unkToken + "' is not in the vocabulary");
            }
            unkId = id;
        } else {
            unkId = -1;
        }
        this.merges = new LongLongMap(merges.size());
        String prefix = this.continuingSubwordPrefix == null ? "" : this.continuingSubwordPrefix;
        for (int rank = 0; rank < merges.size(); rank++) {
            String[] pair = merges.get(rank);
            Integer a = this.vocab.find(pair[0]);
            Integer b = this.vocab.find(pair[1]);
            String mergedText = pair[0] + (prefix.isEmpty() ? pair[1] : pair[1].substring(
                    pair[1].startsWith(prefix) ? prefix.length() : 0));
            Integer merged = this.vocab.find(mergedText);
            if (a == null || b == null || merged == null) {
                throw new dev.herd.model.weights.ModelFormatException(where + ": merge " + rank + " ('" + pair[0]
                        + "' '" + pair[1] + "') names a token missing from the vocabulary");
            }
            this.merges.put(pairKey(a, b), ((long) rank << 32) | merged);
        }
        Arrays.fill(smallCharIds, -2);
        byteFallbackIds = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = this.vocab.find(String.format("<0x%02X>", b));
            byteFallbackIds[b] = id == null ? -1 : id;
        }
    }

    private static long pairKey(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    @Override
    public TokenVocabulary vocabulary() {
        return vocab;
    }

    @Override
    public void tokenize(String piece, IntArrayBuilder out) {
        if (piece.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            Integer whole = vocab.find(piece);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        boolean cacheable = piece.length() < CACHE_MAX_PIECE;
        if (cacheable) {
            int[] hit = cache.get(piece);
            if (hit != null) {
                out.addAll(hit);
                return;
            }
        }
        int[] ids = merge(piece);
        if (cacheable && cache.size() < CACHE_CAPACITY) {
            cache.putIfAbsent(piece, ids);
        }
        out.addAll(ids);
    }

    private int charId(String piece, int start, int end, boolean first, boolean last) {
        if (end - start == 1 && continuingSubwordPrefix == null && endOfWordSuffix == null) {
            char c = piece.charAt(start);
            if (c < smallCharIds.length) {
                int cached = smallCharIds[c];
                if (cached == -2) {
                    Integer id = vocab.find(String.valueOf(c));
                    cached = id == null ? -1 : id;
                    smallCharIds[c] = cached;
                }
                return cached;
            }
        }
        String s = piece.substring(start, end);
        if (!first && continuingSubwordPrefix != null) {
            s = continuingSubwordPrefix + s;
        }
        if (last && endOfWordSuffix != null) {
            s = s + endOfWordSuffix;
        }
        Integer id = vocab.find(s);
        return id == null ? -1 : id;
    }

    /** The merge loop over one piece. */
    private int[] merge(String piece) {
        int n = piece.length();
        int[] sym = new int[n + 8];
        int count = 0;
        int pendingUnk = -1;
        for (int i = 0; i < n; ) {
            int cp = piece.codePointAt(i);
            int end = i + Character.charCount(cp);
            int id = charId(piece, i, end, i == 0, end == n);
            if (id >= 0) {
                if (pendingUnk >= 0) {
                    sym = push(sym, count++, pendingUnk);
                    pendingUnk = -1;
                }
                sym = push(sym, count++, id);
            } else if (byteFallback && allBytesKnown(piece, i, end)) {
                // a pending unknown token stays pending here, after these bytes, as in the Rust library
                for (byte b : piece.substring(i, end).getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                    sym = push(sym, count++, byteFallbackIds[b & 0xFF]);
                }
            } else if (unkId >= 0) {
                if (pendingUnk >= 0 && !fuseUnk) {
                    sym = push(sym, count++, pendingUnk);
                }
                pendingUnk = unkId;
            }
            // with neither byte fallback nor an unknown token the character is dropped, as the Rust library does
            i = end;
        }
        if (pendingUnk >= 0) {
            sym = push(sym, count++, pendingUnk);
        }
        if (count < 2) {
            return Arrays.copyOf(sym, count);
        }
        int[] prev = new int[count];
        int[] next = new int[count];
        boolean[] removed = new boolean[count];
        for (int i = 0; i < count; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        LongHeap heap = new LongHeap(count);
        for (int i = 0; i + 1 < count; i++) {
            long m = merges.get(pairKey(sym[i], sym[i + 1]), NO_MERGE);
            if (m != NO_MERGE) {
                heap.push(((m >>> 32) << 32) | i);
            }
        }
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (removed[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            long m = merges.get(pairKey(sym[pos], sym[right]), NO_MERGE);
            if (m == NO_MERGE || (int) (m >>> 32) != rank) {
                continue; // stale: one side changed since this entry was queued
            }
            sym[pos] = (int) m;
            removed[right] = true;
            next[pos] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                long left = merges.get(pairKey(sym[prev[pos]], sym[pos]), NO_MERGE);
                if (left != NO_MERGE) {
                    heap.push(((left >>> 32) << 32) | prev[pos]);
                }
            }
            if (next[pos] >= 0) {
                long rightMerge = merges.get(pairKey(sym[pos], sym[next[pos]]), NO_MERGE);
                if (rightMerge != NO_MERGE) {
                    heap.push(((rightMerge >>> 32) << 32) | pos);
                }
            }
        }
        IntArrayBuilder result = new IntArrayBuilder(count);
        for (int i = 0; i >= 0; i = next[i]) {
            result.add(sym[i]);
        }
        return result.toArray();
    }

    private boolean allBytesKnown(String piece, int start, int end) {
        for (byte b : piece.substring(start, end).getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
            if (byteFallbackIds[b & 0xFF] < 0) {
                return false;
            }
        }
        return true;
    }

    private static int[] push(int[] array, int index, int value) {
        if (index == array.length) {
            array = Arrays.copyOf(array, array.length * 2);
        }
        array[index] = value;
        return array;
    }

    /** A binary min-heap of longs: (rank << 32 | position) orders by rank, then by position. */
    static final class LongHeap {
        private long[] heap;
        private int size;

        LongHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long value) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= value) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = value;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
