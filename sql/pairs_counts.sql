-- pairs_counts: joint counts n(ti, tj, y) of one block of neuron pairs, for bins ti > 0 and tj > 0 only
-- (cells with a bin 0 follow from the single-neuron counts: sql/pairs_cells.sql). One row per
-- (pair, bin_i, bin_j, class). Each count ANDs two neurons' 64-sample words and counts the set bits,
-- so no (sample, pair) row ever exists.
-- Inputs: packed_codes (neuron, bin, class, words) laid out by store.measures.pack_codes over the
-- selected neurons, here numbered 0..U-1 across layers ("units"); units (unit, layer, neuron).
-- Parameters: ${unit_lo} <= unit_i < ${unit_hi} (the block); ${across_layers} (true | false).
-- Materialized as the temp table pairs_counts by store/pairs.py.
WITH pairs AS (
    SELECT i.unit AS unit_i, j.unit AS unit_j
    FROM units AS i
    JOIN units AS j ON i.unit < j.unit AND (i.layer = j.layer OR ${across_layers})
    WHERE i.unit >= ${unit_lo} AND i.unit < ${unit_hi}
),

nonzero_bins AS (
    SELECT neuron AS unit, bin, class, words
    FROM packed_codes
    WHERE bin > 0
),

joint AS (
    SELECT
        pairs.unit_i,
        pairs.unit_j,
        a.bin AS bin_i,
        b.bin AS bin_j,
        a.class,
        list_sum(list_transform(list_zip(a.words, b.words), lambda w: bit_count(w[1] & w[2]))) AS n
    FROM pairs
    JOIN nonzero_bins AS a ON a.unit = pairs.unit_i
    JOIN nonzero_bins AS b ON b.unit = pairs.unit_j AND b.class = a.class
)

SELECT
    unit_i::INTEGER AS unit_i,    -- first neuron of the pair (unit number, unit_i < unit_j)
    unit_j::INTEGER AS unit_j,    -- second neuron of the pair
    bin_i::INTEGER AS bin_i,      -- its code ti, 1..2^bits-1
    bin_j::INTEGER AS bin_j,      -- the second neuron's code tj, 1..2^bits-1
    class::INTEGER AS class,      -- label y
    coalesce(n, 0)::BIGINT AS n   -- validation samples with Ti = ti, Tj = tj and Y = y (0 allowed)
FROM joint
