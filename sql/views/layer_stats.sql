-- layer_stats: one row per (run, hidden layer): how many of the layer's neurons do anything on the
-- validation split. Reads neuron_stats' active_frac (share of validation samples above the 1-bit
-- threshold: 0 for ReLU, 0.5 for sigmoid), which does not depend on the bits of the row.
WITH per_neuron AS (
    SELECT run_id, layer, neuron, any_value(active_frac) AS active_frac
    FROM neuron_stats
    GROUP BY ALL
)
SELECT
    n.run_id,
    n.layer,                                                   -- hidden layer 1..L
    count(*) AS n_neurons,                                     -- neurons of the layer
    avg(CASE WHEN n.active_frac IN (0, 1) THEN 1 ELSE 0 END) AS constant_frac,  -- share whose 1-bit code is constant on validation
    CASE WHEN any_value(r.activation) = 'relu'
         THEN avg(CASE WHEN n.active_frac = 0 THEN 1 ELSE 0 END) END AS dead_frac  -- ReLU: share never above 0 on validation; NULL for sigmoid
FROM per_neuron AS n
JOIN runs AS r USING (run_id)
GROUP BY n.run_id, n.layer
