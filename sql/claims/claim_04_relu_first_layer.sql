-- Claim 4 (paper 5.2): ReLU networks, first hidden layer: low-first < random < high-first for every
-- measure, weakest for entropy. Layer 1, measures at 1 bit, ablation to zero.
-- 4-<measure>: min(AUC(random) - AUC(low_first), AUC(high_first) - AUC(random)) (> 0: both orders hold).
-- 4w: the mean of that over the other measures minus entropy's (> 0: entropy is the weakest).
WITH first_layer AS (
    SELECT *, least(random - low_first, high_first - random) AS both_sides
    FROM scorecard_auc
    WHERE activation = 'relu' AND scope = 'layer' AND layer = 1 AND strategy = 'zero' AND bits = 1
        AND measure IN ('entropy', 'mutual_info', 'kl_selectivity', 'labeled_mi', 'js_subset_separation')
)
SELECT '4-' || measure AS claim, 'ReLU layer 1, ' || measure || ': min(AUC(random) - AUC(low), AUC(high) - AUC(random))' AS statement,
    group_name, group_name AS page, run_id, both_sides AS statistic, 'layer_ablation' AS chart
FROM first_layer
UNION ALL
SELECT '4w', 'ReLU layer 1: mean claim-4 statistic of the other measures minus entropy''s', group_name, group_name, run_id,
    avg(both_sides ORDER BY measure) FILTER (WHERE measure <> 'entropy') - max(both_sides) FILTER (WHERE measure = 'entropy'),
    'layer_ablation'
FROM first_layer
GROUP BY group_name, run_id
