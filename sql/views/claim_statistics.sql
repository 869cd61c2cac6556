-- claim_statistics: one row per claim, group, run and curve part: the claim's statistic on that run
-- (docs/scorecard.md). The claims parameter is every model of sql/claims/ (one SELECT per claim: claim,
-- statement, group_name, page, run_id, statistic, chart) joined by UNION ALL BY NAME. A statistic is one
-- number per run, oriented so that > 0 means "the claim holds on this run". Statistics of ablation curves
-- come twice: over the whole curve and over its early part (early_claims: the same models reading the
-- curves up to a fraction ablated, 0.5 unless $NEURONINFO_EARLY_FRACTION says otherwise).
SELECT 'whole' AS curve_part, claim, statement, group_name, page, run_id, statistic, chart
FROM (${claims})
UNION ALL
SELECT 'early' AS curve_part, claim, statement, group_name, page, run_id, statistic, chart
FROM (${early_claims})
WHERE chart NOT IN ('layer_composition', 'layer_stats')  -- statistics that read no ablation curve
