-- Claim 5 (paper 5.2): ReLU networks, second hidden layer: high-MI / high-KL first hurts most; low-MI
-- first is advisable; low-KL first is worse than random. Layer 2, measures at 1 bit, ablation to zero.
WITH second_layer AS (
    SELECT * FROM scorecard_auc
    WHERE activation = 'relu' AND scope = 'layer' AND layer = 2 AND strategy = 'zero' AND bits = 1
)
SELECT '5a' AS claim, 'ReLU layer 2: AUC(high-MI first) - AUC(random)' AS statement, group_name, group_name AS page,
    run_id, high_first - random AS statistic, 'layer_ablation' AS chart
FROM second_layer WHERE measure = 'mutual_info'
UNION ALL
SELECT '5b', 'ReLU layer 2: AUC(high-KL first) - AUC(random)', group_name, group_name, run_id, high_first - random, 'layer_ablation'
FROM second_layer WHERE measure = 'kl_selectivity'
UNION ALL
SELECT '5c', 'ReLU layer 2: AUC(random) - AUC(low-MI first)', group_name, group_name, run_id, random - low_first, 'layer_ablation'
FROM second_layer WHERE measure = 'mutual_info'
UNION ALL
SELECT '5d', 'ReLU layer 2: AUC(low-KL first) - AUC(random)', group_name, group_name, run_id, low_first - random, 'layer_ablation'
FROM second_layer WHERE measure = 'kl_selectivity'
