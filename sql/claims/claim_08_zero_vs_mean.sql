-- Claim 8 (paper 5.2): ReLU + dropout networks: ablation to zero beats ablation to the mean, most in the
-- second layer. Random orderings, layer scope (ordering-free). 8a / 8b: AUC(to mean) - AUC(to zero) in
-- layer 2 / layer 1 (> 0: zero hurts less). 8c: 8a - 8b (> 0: the gain is larger in layer 2).
WITH random_layers AS (
    SELECT a.run_id, r.group_name, a.layer,
        max(a.auc) FILTER (WHERE a.strategy = 'mean') - max(a.auc) FILTER (WHERE a.strategy = 'zero') AS gain
    FROM ablation_auc AS a JOIN scorecard_runs AS r USING (run_id)
    WHERE r.activation = 'relu' AND r.regularizer = 'dropout' AND a.scope = 'layer' AND a.ordering = 'random'
    GROUP BY ALL
)
SELECT '8a' AS claim, 'ReLU+dropout, layer 2, random: AUC(to mean) - AUC(to zero)' AS statement,
    group_name, group_name AS page, run_id, gain AS statistic, 'zero_vs_mean' AS chart
FROM random_layers WHERE layer = 2
UNION ALL
SELECT '8b', 'ReLU+dropout, layer 1, random: AUC(to mean) - AUC(to zero)', group_name, group_name, run_id, gain, 'zero_vs_mean'
FROM random_layers WHERE layer = 1
UNION ALL
SELECT '8c', 'ReLU+dropout: claim 8a minus 8b', group_name, group_name, run_id,
    max(gain) FILTER (WHERE layer = 2) - max(gain) FILTER (WHERE layer = 1), 'zero_vs_mean'
FROM random_layers
GROUP BY group_name, run_id
