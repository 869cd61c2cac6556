-- Claim 7 (paper 5.3): more than two quantization bins do not change the results significantly.
-- Statistic per run: 0.02 minus the largest change of a network-wide MI curve's AUC (low_first or
-- high_first, ablation to zero) between 1 bit (2 bins) and 3 bits (8 bins). > 0: within two points.
WITH network AS (
    SELECT * FROM scorecard_auc WHERE scope = 'network' AND strategy = 'zero' AND measure = 'mutual_info'
),
changes AS (
    SELECT one.group_name, one.run_id,
        greatest(abs(three.low_first - one.low_first), abs(three.high_first - one.high_first)) AS change
    FROM network AS one JOIN network AS three ON three.run_id = one.run_id AND three.bits = 3
    WHERE one.bits = 1
)
SELECT '7' AS claim, 'network, MI: 0.02 - max |AUC(3 bits) - AUC(1 bit)| over low/high first' AS statement,
    group_name, group_name AS page, run_id, 0.02 - change AS statistic, 'quantizer_bits' AS chart
FROM changes
