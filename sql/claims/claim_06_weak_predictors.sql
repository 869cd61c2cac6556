-- Claim 6 (paper 5.2, appendix): in sigmoid networks and in networks with batch norm + dropout the
-- measures do not predict ablation damage (the paper found these inconclusive). Tested as a weak
-- relation: in the first hidden layer, MI at 1 bit, ablation to zero, the gap between ablating the
-- most and the least informative first, |AUC(high_first) - AUC(low_first)|, stays below 0.02 (two
-- points of mean test error). Statistic: 0.02 - |gap| (> 0: weak).
SELECT '6' AS claim, 'sigmoid or dropout+BN, layer 1, MI: 0.02 - |AUC(high first) - AUC(low first)|' AS statement,
    group_name, group_name AS page, run_id, 0.02 - abs(high_first - low_first) AS statistic, 'layer_ablation' AS chart
FROM scorecard_auc
WHERE (activation = 'sigmoid' OR regularizer = 'dropout_bn')
    AND scope = 'layer' AND layer = 1 AND strategy = 'zero' AND bits = 1 AND measure = 'mutual_info'
