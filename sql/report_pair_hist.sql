-- report_pair_hist: per-layer histograms of red_min and synergy_min over the within-layer pairs of the
-- selected runs (pooled), at each bits value. ${bins} equal-width bins spanning both measures' common
-- range, so redundancy and synergy share one axis. Empty when no selected run has pairs.
WITH pair_values AS (
    UNPIVOT (SELECT p.layer_i AS layer, p.bits, p.red_min, p.synergy_min
             FROM neuron_pairs AS p JOIN selected_runs USING (run_id)
             WHERE p.layer_i = p.layer_j)
    ON red_min, synergy_min
    INTO NAME measure VALUE value
),
ranges AS (
    SELECT bits, min(value) AS lo,
        CASE WHEN max(value) > min(value) THEN max(value) - min(value) ELSE 1.0 END AS span
    FROM pair_values
    GROUP BY bits
),
binned AS (
    SELECT v.measure, v.bits, v.layer, r.lo, r.span,
        least(${bins} - 1, floor((v.value - r.lo) / r.span * ${bins}))::INTEGER AS bin
    FROM pair_values AS v
    JOIN ranges AS r USING (bits)
),
counted AS (
    SELECT measure, bits, layer, bin, any_value(lo) AS lo, any_value(span) AS span, count(*) AS n_pairs
    FROM binned
    GROUP BY measure, bits, layer, bin
)
SELECT
    measure,    -- 'red_min' | 'synergy_min'
    bits,       -- quantizer bits
    layer,      -- hidden layer 1..L
    bin,        -- bin index 0..${bins}-1
    lo + bin * span / ${bins} AS bin_start,        -- lower edge of the bin (bits)
    lo + (bin + 1) * span / ${bins} AS bin_end,    -- upper edge of the bin (bits)
    n_pairs,    -- pairs in the bin, summed over runs
    n_pairs / sum(n_pairs) OVER (PARTITION BY measure, bits, layer) AS share  -- of the layer's pairs
FROM counted
ORDER BY measure, bits, layer, bin
