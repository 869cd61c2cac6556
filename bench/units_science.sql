-- Layer-wise ablation of conv channels and transformer neurons against random orderings (docs/units-science.md).
-- One row per (architecture, regularizer, layer, criterion, ordering): the area under the layer's zero-ablation
-- curve (mean test error while ablating 0..all units) minus the random orderings' area of the same network and
-- layer, averaged over seeds, with a 95 % t-interval across seeds. Negative: ablating in this order hurts less
-- than ablating at random.
WITH areas AS (
    SELECT r.arch, r.regularizer, r.seed, a.layer, a.measure, a.bits, a.ordering, a.auc
    FROM ablation_auc a
    JOIN runs r USING (run_id)
    WHERE a.scope = 'layer' AND a.strategy = 'zero' AND r.arch <> 'mlp'
),
against_random AS (  -- per network and layer: a ranked ordering's area minus the random orderings' mean area
    SELECT ranked.*, ranked.auc - random.auc AS minus_random
    FROM areas ranked
    JOIN areas random
        ON random.arch = ranked.arch AND random.regularizer = ranked.regularizer AND random.seed = ranked.seed
       AND random.layer = ranked.layer AND random.ordering = 'random'
    WHERE ranked.ordering <> 'random'
)
SELECT
    arch,
    regularizer,
    layer,
    any_value(l.unit_kind) AS unit_kind,      -- channel | token | neuron
    any_value(l.units) AS units,              -- units in the layer
    measure,                                  -- the ranking criterion
    bits,                                     -- its quantizer bits
    ordering,                                 -- low_first | high_first
    count(*) AS seeds,
    avg(auc) AS auc,                          -- mean area of this ordering (fraction of test error)
    avg(minus_random) AS minus_random,        -- mean area difference to random (fraction)
    t_quantile_95(count(*) - 1) * stddev_samp(minus_random) / sqrt(count(*)) AS half_width  -- 95 % across seeds
FROM against_random
JOIN (SELECT DISTINCT r.arch, l.layer, l.unit_kind, l.units FROM layers l JOIN runs r USING (run_id)) l USING (arch, layer)
GROUP BY arch, regularizer, layer, measure, bits, ordering
ORDER BY arch, regularizer, layer, measure, bits, ordering
