-- measure_values: the value of every criterion neurons are ranked by, one row per (run, layer, neuron, measure, bits).
-- The one place that says where each value comes from (the names are pipeline/criteria.py's lists):
--   the quantized information measures of neuron_stats, at every bits;
--   the unquantized ones (class_selectivity) once per neuron, from the run's smallest bits, with bits NULL;
--   the pair aggregates of neuron_redundancy, at the bits the pairs were computed for;
--   the baseline criteria of neuron_baselines, with bits NULL.
-- A NULL value has no row (a criterion a run lacks, e.g. conductance without captum).
WITH quantized AS (
    UNPIVOT (SELECT run_id, layer, neuron, bits, ${quantized} FROM neuron_stats)
    ON ${quantized}
    INTO NAME measure VALUE value
),
smallest_bits AS (
    SELECT * FROM neuron_stats
    QUALIFY bits = min(bits) OVER (PARTITION BY run_id)
),
unquantized AS (
    UNPIVOT (SELECT run_id, layer, neuron, CAST(NULL AS INTEGER) AS bits, ${unquantized} FROM smallest_bits)
    ON ${unquantized}
    INTO NAME measure VALUE value
),
pair_aggregates AS (
    UNPIVOT (SELECT run_id, layer, neuron, bits, ${pair_aggregates} FROM neuron_redundancy)
    ON ${pair_aggregates}
    INTO NAME measure VALUE value
),
baselines AS (
    UNPIVOT (SELECT run_id, layer, neuron, CAST(NULL AS INTEGER) AS bits, ${baselines} FROM neuron_baselines)
    ON ${baselines}
    INTO NAME measure VALUE value
)
SELECT
    run_id,
    layer,    -- hidden layer 1..L
    neuron,   -- 0-based index within the layer
    measure,  -- the criterion: a column name of `source`
    bits,     -- quantizer bits; NULL for criteria that do not depend on the quantizer
    source,   -- the view the value comes from: neuron_stats | neuron_redundancy | neuron_baselines
    value     -- the criterion's value (units: see that view)
FROM (
    SELECT run_id, layer, neuron, measure, bits, 'neuron_stats' AS source, value FROM quantized
    UNION ALL
    SELECT run_id, layer, neuron, measure, bits, 'neuron_stats' AS source, value FROM unquantized
    UNION ALL
    SELECT run_id, layer, neuron, measure, bits, 'neuron_redundancy' AS source, value FROM pair_aggregates
    UNION ALL
    SELECT run_id, layer, neuron, measure, bits, 'neuron_baselines' AS source, value FROM baselines
)
