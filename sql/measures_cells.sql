-- measures_cells: the dense joint counts behind every measure of one layer: one row per
-- (bits, neuron, bin, class) for every bin the neuron uses (n(t) > 0) and every class 0..K-1.
-- Inputs: counts (bits, neuron, bin, class, n), sql/counts.sql of each quantizer (n > 0 only), and
-- labels (label) of the same samples. Parameters: ${n_classes} = K.
-- Materialized as the temp table measures_cells by pipeline/measures.py.
WITH classes AS (
    SELECT y.range::INTEGER AS class, count(labels.label)::BIGINT AS n_y
    FROM range(${n_classes}) AS y
    LEFT JOIN labels ON labels.label = y.range
    GROUP BY y.range
),

samples AS (
    SELECT count(*)::BIGINT AS n_total
    FROM labels
),

used_bins AS (
    SELECT bits, neuron, bin, sum(n)::BIGINT AS n_t
    FROM counts
    GROUP BY bits, neuron, bin
),

grid AS (
    SELECT used_bins.*, classes.*, samples.*
    FROM used_bins, classes, samples
)

SELECT
    bits,                           -- quantizer bits (2^bits bins)
    neuron,                         -- neuron index within the layer
    bin,                            -- quantized output t
    class,                          -- label y
    coalesce(counts.n, 0)::BIGINT AS n,  -- n(t, y): validation samples with bin t and label y (0 allowed)
    n_t,                            -- n(t): samples in bin t (> 0)
    n_y,                            -- n(y): samples of class y (0: class absent)
    n_total                         -- N: all validation samples
FROM grid
LEFT JOIN counts USING (bits, neuron, bin, class)
