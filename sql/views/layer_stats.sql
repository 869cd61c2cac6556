-- layer_stats: one row per (run, layer): how many of the layer's units do anything on the validation
-- split. Reads neuron_stats' active_frac (share of validation samples above the 1-bit threshold: 0 for
-- ReLU, 0.5 for sigmoid, a unit's median for unit_quantile), which does not depend on the bits of the row,
-- and names the module the layer's units come from (view layers).
WITH per_neuron AS (
    SELECT run_id, layer, neuron, any_value(active_frac) AS active_frac
    FROM neuron_stats
    GROUP BY ALL
)
SELECT
    n.run_id,
    n.layer,                                                   -- layer 1..L
    count(*) AS n_neurons,                                     -- units of the layer
    avg(CASE WHEN n.active_frac IN (0, 1) THEN 1 ELSE 0 END) AS constant_frac,  -- share whose 1-bit code is constant on validation
    CASE WHEN any_value(r.activation) = 'relu' AND coalesce(any_value(l.quantizer), 'uniform') = 'uniform'
         THEN avg(CASE WHEN n.active_frac = 0 THEN 1 ELSE 0 END) END AS dead_frac,  -- ReLU: share never above 0 on validation; NULL otherwise
    any_value(l.module_path) AS module_path,                   -- the module the units are read from
    any_value(l.unit_kind) AS unit_kind                        -- neuron | channel | channel_last | token
FROM per_neuron AS n
JOIN runs AS r USING (run_id)
LEFT JOIN layers AS l USING (run_id, layer)
GROUP BY n.run_id, n.layer
