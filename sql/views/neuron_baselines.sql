-- neuron_baselines: one row per (run, layer, neuron) with the usual pruning criteria (docs/baselines.md).
SELECT
    run_id, layer, neuron,
    weight_l1_in,          -- L1 norm of the incoming weights, batch norm folded
    weight_l2_in,          -- L2 norm of the incoming weights, batch norm folded
    weight_l1_out,         -- L1 norm of the outgoing weights
    torch_pruning_magnitude, -- Torch-Pruning's default GroupMagnitudeImportance() (relative to the layer); NULL without it
    act_mean,              -- mean raw validation output
    act_var,               -- its population variance
    act_abs_mean,          -- mean absolute raw validation output
    taylor,                -- mean over validation samples of |a * dL/da| (Molchanov et al. 2017)
    conductance,           -- mean |Captum layer conductance| for the true class, baseline input zeros; NULL without captum
    ablation_damage,       -- test-error increase from ablating this neuron alone (to 0): ground truth, not a criterion
    ablation_damage_mean   -- the same, ablating to the training-set mean
FROM stg_neuron_baselines
