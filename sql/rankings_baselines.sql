-- rankings_baselines: the ablation and pruning orderings of one run by the baseline criteria of neuron_baselines.
-- Same columns as rankings.sql (bits is NULL: no criterion here depends on a quantizer). ablation_damage is
-- the ground truth the criteria try to predict (it uses the test split): it is never ranked here.
-- A criterion that is NULL for a run (conductance, torch_pruning_magnitude without the extra) has no rows (UNPIVOT drops NULLs).
-- Ties are broken by neuron index (layer, then neuron, for the whole network). Parameter: ${run_id}.
WITH baselines AS (
    SELECT layer, neuron, ${baselines}
    FROM neuron_baselines
    WHERE run_id = '${run_id}'
),
all_values AS (
    SELECT measure, CAST(NULL AS INTEGER) AS bits, layer, neuron, value
    FROM (UNPIVOT baselines
          ON ${baselines}
          INTO NAME measure VALUE value)
)
SELECT
    measure,   -- the criterion's column name in neuron_baselines
    bits,      -- always NULL
    layer,
    neuron,
    value,
    -- position when ablating the least important first, within the layer / the whole network
    row_number() OVER (PARTITION BY measure, layer ORDER BY round(value, 12) ASC, neuron) - 1 AS layer_low_first,
    row_number() OVER (PARTITION BY measure, layer ORDER BY round(value, 12) DESC, neuron) - 1 AS layer_high_first,
    row_number() OVER (PARTITION BY measure ORDER BY round(value, 12) ASC, layer, neuron) - 1 AS network_low_first,
    row_number() OVER (PARTITION BY measure ORDER BY round(value, 12) DESC, layer, neuron) - 1 AS network_high_first
FROM all_values
ORDER BY measure, layer, neuron
