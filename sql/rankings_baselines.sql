-- rankings_baselines: the ablation and pruning orderings of one run by the baseline criteria of neuron_baselines
-- (the rule is neuron_ranks). Same columns as rankings.sql (bits is NULL: no criterion here depends on a quantizer).
-- ablation_damage is the ground truth the criteria try to predict (it uses the test split): it is never ranked.
-- A criterion that is NULL for a run (conductance, torch_pruning_magnitude without the extra) has no rows.
-- Parameter: ${run_id}.
SELECT measure, bits, layer, neuron, value, layer_low_first, layer_high_first, network_low_first, network_high_first
FROM neuron_ranks
WHERE run_id = '${run_id}' AND source = 'neuron_baselines'
ORDER BY measure, layer, neuron
