-- report_layer_composition: which hidden layer the neurons ablated network-wide come from (paper
-- Fig. 2, the Simpson's-paradox picture). The network orderings of the information measures are
-- neuron_ranks' (the ones ablation follows); for ${steps} fractions f the first k = max(1, round(f * n))
-- neurons of the ordering are split by layer. Source `selected_runs` as in report_measure_values.
WITH positions AS (
    SELECT r.run_id, r.measure, r.bits, r.layer, r.neuron,
        r.network_low_first AS low_first,
        r.network_high_first AS high_first,
        count(*) OVER (PARTITION BY r.run_id, r.measure, r.bits) AS n_neurons
    FROM neuron_ranks AS r JOIN selected_runs USING (run_id)
    WHERE r.source IN ('neuron_stats', 'neuron_redundancy') AND isfinite(r.value)  -- plug-in values (estimator plugin)
),
by_ordering AS (
    UNPIVOT positions ON low_first, high_first INTO NAME ordering VALUE position
),
grid AS (
    SELECT DISTINCT run_id, n_neurons, greatest(1, round(b / ${steps} * n_neurons))::INTEGER AS k
    FROM (SELECT DISTINCT run_id, n_neurons FROM positions), range(1, ${steps} + 1) AS t(b)
),
orderings AS (
    SELECT DISTINCT run_id, measure, bits, ordering FROM by_ordering
),
layers AS (
    SELECT DISTINCT run_id, layer FROM positions
),
counted AS (
    SELECT g.run_id, o.measure, o.bits, o.ordering, g.k, o.layer, count(*) AS n_from_layer
    FROM grid AS g JOIN by_ordering AS o ON o.run_id = g.run_id AND o.position < g.k
    GROUP BY ALL
),
complete AS (  -- zero rows for layers with nothing ablated yet, so stacked areas stay closed
    SELECT g.run_id, o.measure, o.bits, o.ordering, g.k, g.n_neurons, l.layer,
        coalesce(c.n_from_layer, 0) AS n_from_layer
    FROM grid AS g
    JOIN orderings AS o USING (run_id)
    JOIN layers AS l USING (run_id)
    LEFT JOIN counted AS c
        ON c.run_id = g.run_id AND c.measure = o.measure AND c.bits IS NOT DISTINCT FROM o.bits
        AND c.ordering = o.ordering AND c.k = g.k AND c.layer = l.layer
)
SELECT
    measure,                                   -- the ranking measure
    bits,                                      -- quantizer bits; NULL for class_selectivity
    ordering,                                  -- 'low_first' | 'high_first'
    layer,                                     -- hidden layer the ablated neurons come from
    avg(k / n_neurons) AS frac_ablated,        -- fraction of all hidden neurons ablated
    avg(n_from_layer / k) AS share,            -- fraction of the ablated neurons that are in this layer (mean over runs)
    avg(n_from_layer) AS n_from_layer,         -- ablated neurons in this layer (mean over runs)
    count(*) AS n_runs                         -- runs averaged
FROM complete
GROUP BY measure, bits, ordering, layer, round(k / n_neurons * ${steps})
ORDER BY measure, bits, ordering, frac_ablated, layer
