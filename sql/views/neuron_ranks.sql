-- neuron_ranks: where each neuron stands when a criterion orders the neurons of its layer, or of the whole
-- network, least important (low_first) or most important (high_first) first: the orderings ablation and
-- pruning follow, one per estimator of the values. One row per row of measure_values.
-- The one ranking rule: values are compared rounded to 1e-12, so a last-bit difference of a parallel sum never
-- reorders neurons; ties are broken by neuron index (layer, then neuron, over the whole network), so every curve
-- is reproducible (docs/measures.md).
SELECT
    run_id, layer, neuron, measure, bits, estimator, source, value,  -- as in measure_values
    -- 0-based position when ablating the lowest value first / the highest first, within the layer
    row_number() OVER (PARTITION BY run_id, measure, bits, estimator, layer ORDER BY round(value, 12) ASC, neuron) - 1 AS layer_low_first,
    row_number() OVER (PARTITION BY run_id, measure, bits, estimator, layer ORDER BY round(value, 12) DESC, neuron) - 1 AS layer_high_first,
    -- the same over every hidden neuron of the network
    row_number() OVER (PARTITION BY run_id, measure, bits, estimator ORDER BY round(value, 12) ASC, layer, neuron) - 1 AS network_low_first,
    row_number() OVER (PARTITION BY run_id, measure, bits, estimator ORDER BY round(value, 12) DESC, layer, neuron) - 1 AS network_high_first
FROM measure_values
