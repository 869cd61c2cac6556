-- claim_statistics: one row per claim, group and run: the claim's statistic on that run (docs/scorecard.md).
-- The claims parameter is every model of sql/claims/ (one SELECT per claim: claim, statement, group_name,
-- page, run_id, statistic, chart) joined by UNION ALL BY NAME. A statistic is one number per run, oriented
-- so that > 0 means "the claim holds on this run".
SELECT claim, statement, group_name, page, run_id, statistic, chart
FROM (${claims})
