-- report_layer_composition: which hidden layer the neurons ablated network-wide come from (paper
-- Fig. 2, the Simpson's-paradox picture). The network ranking is recomputed from neuron_stats with the
-- tie rule of rankings.sql (ORDER BY value, layer, neuron); for ${steps} fractions f the first
-- k = max(1, round(f * n)) neurons of the ordering are split by layer. Reads report_measure_values.
WITH positions AS (
    SELECT run_id, measure, bits, layer, neuron,
        row_number() OVER (PARTITION BY run_id, measure, bits ORDER BY round(value, 12) ASC, layer, neuron) - 1 AS low_first,
        row_number() OVER (PARTITION BY run_id, measure, bits ORDER BY round(value, 12) DESC, layer, neuron) - 1 AS high_first,
        count(*) OVER (PARTITION BY run_id, measure, bits) AS n_neurons
    FROM report_measure_values
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
