-- Claim 1 (paper 5.1): the measures differ between layers; median MI and KL selectivity grow with depth.
-- Statistic per run: the median over the last hidden layer's neurons minus the median over the first
-- layer's, at 1 bit (2 bins), the values under scorecard_estimator(). > 0: grows with depth.
WITH medians AS (
    SELECT run_id, layer,
        median(value) FILTER (WHERE measure = 'mutual_info') AS mutual_info,
        median(value) FILTER (WHERE measure = 'kl_selectivity') AS kl_selectivity
    FROM measure_values
    WHERE bits = 1 AND measure IN ('mutual_info', 'kl_selectivity') AND estimator = scorecard_estimator()
    GROUP BY ALL
),
growth AS (
    SELECT run_id,
        arg_max(mutual_info, layer) - arg_min(mutual_info, layer) AS mutual_info,
        arg_max(kl_selectivity, layer) - arg_min(kl_selectivity, layer) AS kl_selectivity
    FROM medians
    GROUP BY run_id
    HAVING count(*) >= 2
)
SELECT '1a' AS claim, 'median MI, last minus first hidden layer (bits)' AS statement,
    r.group_name, r.group_name AS page, g.run_id, g.mutual_info AS statistic, 'distributions' AS chart
FROM growth AS g JOIN scorecard_runs AS r USING (run_id)
UNION ALL
SELECT '1b', 'median KL selectivity, last minus first hidden layer (bits)',
    r.group_name, r.group_name, g.run_id, g.kl_selectivity, 'distributions'
FROM growth AS g JOIN scorecard_runs AS r USING (run_id)
