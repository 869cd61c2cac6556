-- measures_baselines: one row per (layer, neuron) with every baseline importance measure (view neuron_baselines).
-- Inputs (registered Arrow tables):
--   raw_outputs(layer, neuron, value)  the stored raw validation outputs T, one row per (neuron, sample)
--   torch_baselines(layer, neuron, weight_l1_in, weight_l2_in, weight_l1_out, torch_pruning_magnitude, taylor, conductance,
--                   ablation_damage, ablation_damage_mean)  computed with torch (pipeline/baselines.py)
WITH activation_stats AS (
    SELECT
        layer,
        neuron,
        avg(value::DOUBLE) AS act_mean,           -- mean output over validation samples
        var_pop(value::DOUBLE) AS act_var,        -- population variance of the output
        avg(abs(value::DOUBLE)) AS act_abs_mean   -- mean absolute output
    FROM raw_outputs
    GROUP BY layer, neuron
),
joined AS (
    SELECT
        t.layer,                 -- hidden layer 1..L
        t.neuron,                -- neuron 0..M-1 within the layer
        t.weight_l1_in,          -- L1 norm of the incoming weights (batch norm folded)
        t.weight_l2_in,          -- L2 norm of the incoming weights (batch norm folded)
        t.weight_l1_out,         -- L1 norm of the outgoing weights
        t.torch_pruning_magnitude, -- Torch-Pruning's GroupMagnitudeImportance(); NULL without torch-pruning
        a.act_mean,
        a.act_var,
        a.act_abs_mean,
        t.taylor,                -- mean |a * dL/da| over validation samples
        t.conductance,           -- mean |layer conductance| for the true class, zero baseline; NULL without captum
        t.ablation_damage,       -- test-error increase when this neuron alone is set to 0
        t.ablation_damage_mean   -- test-error increase when this neuron alone is set to its training-set mean
    FROM torch_baselines AS t
    JOIN activation_stats AS a USING (layer, neuron)
)
SELECT * FROM joined
ORDER BY layer, neuron
