-- Claim 3 (paper 5.2): ablating a shallow layer hurts more than ablating a deeper one.
-- Statistic per run: AUC of the random orderings of the first hidden layer minus that of the last
-- (layer scope, ablation to zero). > 0: the first layer is the more fragile.
WITH random_layers AS (
    SELECT a.run_id, a.layer, a.auc
    FROM ablation_auc AS a
    WHERE a.scope = 'layer' AND a.ordering = 'random' AND a.strategy = 'zero'
),
ends AS (
    SELECT run_id, arg_min(auc, layer) - arg_max(auc, layer) AS statistic
    FROM random_layers
    GROUP BY run_id
    HAVING count(*) >= 2
)
SELECT '3' AS claim, 'random ablation to zero: AUC(first layer) - AUC(last layer)' AS statement,
    r.group_name, r.group_name AS page, e.run_id, e.statistic, 'layer_ablation' AS chart
FROM ends AS e JOIN scorecard_runs AS r USING (run_id)
