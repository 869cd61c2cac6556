-- measure_values: the value of every criterion neurons are ranked by, one row per (run, layer, neuron, measure, bits,
-- estimator).
-- The one place that says where each value comes from: for every criterion of the registry (the `criteria` view,
-- pipeline/criteria.py), its expression over its source view —
--   per-bits criteria (the information measures of neuron_stats, the pair aggregates of neuron_redundancy) at every bits;
--   criteria that do not depend on the quantizer with bits NULL: class_selectivity once per neuron, from the
--   run's smallest bits; the baseline criteria of neuron_baselines.
-- Criteria estimated from counts (the information measures of neuron_stats) also come corrected: a row per
-- estimator of measure_estimates (docs/measures.md, "Estimators"); every other value is estimator plugin.
-- A NULL value has no row (a criterion a run lacks, e.g. conductance without captum).
WITH criterion_values AS (
${criterion_values}
)
SELECT
    run_id,
    layer,    -- hidden layer 1..L
    neuron,   -- 0-based index within the layer
    measure,  -- the criterion (a row of `criteria`)
    bits,     -- quantizer bits; NULL for criteria that do not depend on the quantizer
    estimator, -- plugin (the source's value) | miller_madow | panzeri_treves | shuffle (measure_estimates)
    source,   -- the view the value comes from: neuron_stats | neuron_redundancy | neuron_baselines | measure_estimates
    value     -- the criterion's value (units: see that view)
FROM criterion_values
