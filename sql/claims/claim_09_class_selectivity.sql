-- Claim 9 (paper 5.2, after Morcos et al.): class selectivity is not a good indicator of importance
-- across the whole network. Statistic per run: how much better MI (1 bit) separates the two orders
-- than class selectivity does, network scope, ablation to zero:
-- (AUC(high_first) - AUC(low_first)) of MI minus the same of class selectivity. > 0: selectivity is worse.
WITH network AS (
    SELECT * FROM scorecard_auc WHERE scope = 'network' AND strategy = 'zero'
)
SELECT '9' AS claim, 'network: (AUC(high) - AUC(low)) of MI minus that of class selectivity' AS statement,
    mi.group_name, mi.group_name AS page, mi.run_id,
    (mi.high_first - mi.low_first) - (cs.high_first - cs.low_first) AS statistic, 'network_ablation' AS chart
FROM network AS mi
JOIN network AS cs ON cs.run_id = mi.run_id AND cs.measure = 'class_selectivity'
WHERE mi.measure = 'mutual_info' AND mi.bits = 1
