-- scorecard_auc: per run, scope, measure, bits and strategy, the areas of the low_first, high_first and
-- random curves side by side (ablation_auc; random averaged over its repeats). The information measures are
-- ranked by scorecard_estimator() (sql/macros.sql: plugin unless the session variable says otherwise), every
-- other criterion by its plug-in values.
WITH ranked AS (
    SELECT run_id, scope, layer, measure, bits, estimator, strategy,
        max(auc) FILTER (WHERE ordering = 'low_first') AS low_first,   -- area of the least-first curve
        max(auc) FILTER (WHERE ordering = 'high_first') AS high_first  -- area of the most-first curve
    FROM ablation_auc JOIN criteria USING (measure)
    WHERE ordering <> 'random' AND estimator = ranked_by(criteria.estimators)
    GROUP BY ALL
),
random AS (
    SELECT run_id, scope, layer, strategy, auc AS random
    FROM ablation_auc
    WHERE ordering = 'random'
)
SELECT r.group_name, r.activation, r.regularizer, r.n_layers, k.*, q.random
FROM ranked AS k
JOIN random AS q ON q.run_id = k.run_id AND q.scope = k.scope AND q.layer IS NOT DISTINCT FROM k.layer AND q.strategy = k.strategy
JOIN scorecard_runs AS r ON r.run_id = k.run_id
