-- ablation_vs_random: one row per point of a ranked ablation curve (every ordering but random), with the
-- random orderings' band at the same k (same run, scope, layer and strategy), so "does ablating the least
-- informative neurons first hurt less than random?" is one WHERE on one view.
WITH random_band AS (
    SELECT run_id, scope, layer, strategy, n_ablated,
        min(test_error) AS random_min,
        avg(test_error) AS random_mean,
        max(test_error) AS random_max,
        count(*) AS random_repeats
    FROM ablation_curves
    WHERE ordering = 'random'
    GROUP BY ALL
),
ranked AS (
    SELECT run_id, scope, layer, measure, bits, estimator, ordering, strategy, n_ablated, frac_ablated, test_error
    FROM ablation_curves
    WHERE ordering <> 'random'
)
SELECT
    c.run_id,
    c.scope,           -- 'layer' | 'network'
    c.layer,           -- hidden layer for scope layer; NULL for network
    c.measure,         -- the ranking criterion
    c.bits,            -- quantizer bits; NULL for criteria without bits
    c.estimator,       -- the estimator of the values ranked
    c.ordering,        -- 'low_first' | 'high_first'
    c.strategy,        -- 'zero' | 'mean'
    c.n_ablated,       -- k, neurons ablated
    c.frac_ablated,    -- k over the neurons in scope
    c.test_error,      -- test error of this ordering at k
    b.random_min,      -- lowest test error of the random orderings at k (NULL: none at this k)
    b.random_mean,     -- their mean
    b.random_max,      -- their highest
    b.random_repeats,  -- how many random orderings
    CASE WHEN b.random_repeats IS NULL THEN NULL
         WHEN c.test_error < b.random_min THEN 'below'
         WHEN c.test_error > b.random_max THEN 'above'
         ELSE 'within' END AS vs_random  -- the ordering's error against the random band at k
FROM ranked c
LEFT JOIN random_band b
    ON b.run_id = c.run_id AND b.scope = c.scope AND b.layer IS NOT DISTINCT FROM c.layer
   AND b.strategy = c.strategy AND b.n_ablated = c.n_ablated
