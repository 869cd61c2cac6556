-- report_measure_hist: per-layer histograms of each measure (paper Fig. 1), pooled over the selected runs.
-- ${bins} equal-width bins spanning the measure's range over all layers, so layers share one axis.
-- Reads report_measure_values.
WITH ranges AS (
    SELECT measure, bits, min(value) AS lo,
        CASE WHEN max(value) > min(value) THEN max(value) - min(value) ELSE 1.0 END AS span
    FROM report_measure_values
    GROUP BY ALL
),
binned AS (
    SELECT v.measure, v.bits, v.layer, v.value, r.lo, r.span,
        least(${bins} - 1, floor((v.value - r.lo) / r.span * ${bins}))::INTEGER AS bin
    FROM report_measure_values AS v
    JOIN ranges AS r ON v.measure = r.measure AND v.bits IS NOT DISTINCT FROM r.bits
),
counted AS (
    SELECT measure, bits, layer, bin, any_value(lo) AS lo, any_value(span) AS span, count(*) AS n_neurons
    FROM binned
    GROUP BY measure, bits, layer, bin
),
layer_stats AS (
    SELECT measure, bits, layer, avg(value) AS layer_mean, median(value) AS layer_median
    FROM report_measure_values
    GROUP BY ALL
)
SELECT
    c.measure,      -- measure name
    c.bits,         -- quantizer bits; NULL for class_selectivity
    c.layer,        -- hidden layer 1..L
    c.bin,          -- bin index 0..${bins}-1
    c.lo + c.bin * c.span / ${bins} AS bin_start,        -- lower edge of the bin (bits)
    c.lo + (c.bin + 1) * c.span / ${bins} AS bin_end,    -- upper edge of the bin (bits)
    c.n_neurons,    -- neurons in the bin, summed over runs
    c.n_neurons / sum(c.n_neurons) OVER (PARTITION BY c.measure, c.bits, c.layer) AS share,  -- of the layer's neurons
    s.layer_mean,   -- mean of the measure over the layer's neurons (all runs)
    s.layer_median  -- median of the measure over the layer's neurons (all runs)
FROM counted AS c
JOIN layer_stats AS s ON c.measure = s.measure AND c.bits IS NOT DISTINCT FROM s.bits AND c.layer = s.layer
ORDER BY c.measure, c.bits, c.layer, c.bin
