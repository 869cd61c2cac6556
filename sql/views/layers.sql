-- layers: one row per (run, layer) of every captured run: which module its units come from and how.
-- Runs captured before unit_layers existed are fully-connected: their layer l is hidden layer l, read at
-- acts.<l-1>, hidden_sizes[l] neurons, and their quantizer is in quantizers.
WITH captured AS (
    SELECT run_id, layer, any_value(method) AS method
    FROM quantizers
    GROUP BY ALL
)
SELECT
    c.run_id,
    c.layer,
    coalesce(u.module_path, 'acts.' || (c.layer - 1)) AS module_path,  -- the module the units are read from
    coalesce(u.unit_kind, 'neuron') AS unit_kind,                       -- neuron | channel | channel_last | token
    coalesce(u.reducer, 'none') AS reducer,                             -- none | mean | max | cls | position
    coalesce(u.units, r.hidden_sizes[c.layer]) AS units,                -- units of the layer
    coalesce(u.quantizer, c.method) AS quantizer                        -- uniform | quantile | unit_quantile
FROM captured AS c
JOIN runs AS r USING (run_id)
LEFT JOIN unit_layers AS u USING (run_id, layer)
