-- pairs_counts: the joint contingency table n(ti, tj, y) of one block of neuron pairs, one row per
-- (pair, bin_i, bin_j, class), every cell (0 allowed). Each count ANDs two neurons' bit sets and counts
-- the set bits, so no (sample, pair) row ever exists.
-- Inputs: pairs_packed (sql/pairs_packed.sql). Parameters: ${unit_lo} <= unit_i < ${unit_hi} selects the
-- block; ${across_layers} (true | false) adds pairs of neurons of different layers.
-- Materialized as the temp table pairs_counts by pipeline/pairs.py.
WITH joint AS (
    SELECT
        a.unit AS unit_i,
        b.unit AS unit_j,
        a.bin AS bin_i,
        b.bin AS bin_j,
        a.class,
        bit_count(a.samples & b.samples) AS n
    FROM pairs_packed AS a
    JOIN pairs_packed AS b
        ON b.class = a.class AND b.unit > a.unit AND (b.layer = a.layer OR ${across_layers})
    WHERE a.unit >= ${unit_lo} AND a.unit < ${unit_hi}
)

SELECT
    unit_i::INTEGER AS unit_i,    -- first neuron of the pair (unit number, unit_i < unit_j)
    unit_j::INTEGER AS unit_j,    -- second neuron of the pair
    bin_i::INTEGER AS bin_i,      -- its code ti, 0..2^bits-1
    bin_j::INTEGER AS bin_j,      -- the second neuron's code tj
    class::INTEGER AS class,      -- label y
    n::BIGINT AS n                -- validation samples with Ti = ti, Tj = tj and Y = y
FROM joint
