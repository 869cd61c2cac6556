-- layer_significance: one row per (run, layer, bits): how many of the layer's units carry information about
-- the class that a test can vouch for. A unit is significant when its mutual_info p-value (measure_estimates:
-- the G-test, or a permutation test for small samples) survives Benjamini-Hochberg at a false discovery rate
-- of 5 % over the units of the layer at that bits. Also each estimator's mean I(T;Y) over the layer.
WITH tests AS (
    SELECT run_id, layer, bits, neuron, p_value, small_sample
    FROM measure_estimates
    WHERE measure = 'mutual_info' AND estimator = 'plugin'
),

ranked AS (  -- the layer's family in order of p-value: rank i of m
    SELECT *,
        row_number() OVER (PARTITION BY run_id, layer, bits ORDER BY p_value, neuron) AS p_rank,
        count(*) OVER (PARTITION BY run_id, layer, bits) AS family
    FROM tests
),

adjusted AS (  -- Benjamini-Hochberg: min over ranks j >= i of min(1, m p_j / j)
    SELECT *,
        min(least(1.0, family * p_value / p_rank))
            OVER (PARTITION BY run_id, layer, bits ORDER BY p_rank ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS p_bh
    FROM ranked
),

info AS (
    SELECT run_id, layer, bits,
        avg(value ORDER BY neuron) FILTER (WHERE estimator = 'plugin') AS mean_mi_plugin,
        avg(value ORDER BY neuron) FILTER (WHERE estimator = 'miller_madow') AS mean_mi_miller_madow,
        avg(value ORDER BY neuron) FILTER (WHERE estimator = 'panzeri_treves') AS mean_mi_panzeri_treves,
        avg(value ORDER BY neuron) FILTER (WHERE estimator = 'shuffle') AS mean_mi_shuffle
    FROM measure_estimates
    WHERE measure = 'mutual_info'
    GROUP BY run_id, layer, bits
)

SELECT
    run_id,
    layer,                                                   -- hidden layer 1..L
    bits,                                                    -- quantizer bits
    count(*) AS n_units,                                     -- units of the layer
    count(*) FILTER (WHERE p_bh < 0.05) AS significant_units,  -- units whose I(T;Y) > 0 at FDR 5 % (BH over the layer)
    avg((p_bh < 0.05)::INTEGER) AS significant_frac,         -- their share
    avg(small_sample::INTEGER) AS small_sample_frac,         -- share of units with too few samples for their bins (permutation-tested)
    any_value(info.mean_mi_plugin) AS mean_mi_plugin,        -- mean plug-in I(T;Y) over the layer, bits
    any_value(info.mean_mi_miller_madow) AS mean_mi_miller_madow,      -- the same, Miller-Madow
    any_value(info.mean_mi_panzeri_treves) AS mean_mi_panzeri_treves,  -- the same, Panzeri-Treves
    any_value(info.mean_mi_shuffle) AS mean_mi_shuffle                 -- the same, shuffle-corrected
FROM adjusted
JOIN info USING (run_id, layer, bits)
GROUP BY run_id, layer, bits
