-- Claim 2 (paper 5.2): whole-network ablation by lowest MI (or entropy) removes mostly first-layer
-- neurons and does worse than random, most severely with dropout; low-KL first does mildly better
-- than random. Network scope, measures at 1 bit, ablation to zero; AUC = mean test error over the curve.
-- 2a: share of first-layer neurons among the first half of the low-MI ordering, minus the first
--     layer's share of all hidden neurons (> 0: over-represented).
-- 2b / 2c: AUC(low_first MI / entropy) - AUC(random) (> 0: worse than random).
-- 2d: 2b with dropout minus 2b without regularization, same dataset, activation and seed.
-- 2e: AUC(random) - AUC(low_first KL) (> 0: better than random).
WITH first_half AS (
    SELECT run_id,
        avg(CASE WHEN layer = 1 THEN 1 ELSE 0 END) FILTER (WHERE network_low_first < n_neurons / 2) AS share_first_layer,
        avg(CASE WHEN layer = 1 THEN 1 ELSE 0 END) AS base_share
    FROM (SELECT *, count(*) OVER (PARTITION BY run_id) AS n_neurons
          FROM neuron_ranks WHERE measure = 'mutual_info' AND bits = 1 AND estimator = scorecard_estimator())
    GROUP BY run_id
),
network AS (
    SELECT * FROM scorecard_auc WHERE scope = 'network' AND strategy = 'zero' AND bits = 1
),
low_mi AS (
    SELECT n.*, r.dataset, r.seed FROM network AS n JOIN scorecard_runs AS r USING (run_id) WHERE measure = 'mutual_info'
)
SELECT '2a' AS claim, 'low-MI network ablation: first-layer share of the first half minus its base share' AS statement,
    r.group_name, r.group_name AS page, f.run_id, f.share_first_layer - f.base_share AS statistic,
    'layer_composition' AS chart
FROM first_half AS f JOIN scorecard_runs AS r USING (run_id)
UNION ALL
SELECT '2b', 'network, to zero: AUC(low-MI first) - AUC(random)', group_name, group_name, run_id,
    low_first - random, 'network_ablation'
FROM network WHERE measure = 'mutual_info'
UNION ALL
SELECT '2c', 'network, to zero: AUC(low-entropy first) - AUC(random)', group_name, group_name, run_id,
    low_first - random, 'network_ablation'
FROM network WHERE measure = 'entropy'
UNION ALL
SELECT '2d', 'claim 2b with dropout minus 2b without regularization (paired by seed)',
    d.dataset || '-' || d.activation || ': dropout vs none', d.group_name, d.run_id,
    (d.low_first - d.random) - (n.low_first - n.random), 'network_ablation'
FROM low_mi AS d
JOIN low_mi AS n ON n.dataset = d.dataset AND n.activation = d.activation AND n.seed = d.seed
    AND n.n_layers = d.n_layers AND n.regularizer = 'none'
WHERE d.regularizer = 'dropout'
UNION ALL
SELECT '2e', 'network, to zero: AUC(random) - AUC(low-KL first)', group_name, group_name, run_id,
    random - low_first, 'network_ablation'
FROM network WHERE measure = 'kl_selectivity'
