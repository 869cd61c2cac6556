-- scorecard_summary: one row per claim: over its configurations (the scorecard's cells), how many hold,
-- are contradicted or inconclusive, before and after the multiplicity corrections (docs/scorecard.md).
SELECT
    curve_part,                                                        -- 'whole' or 'early' (scorecard)
    claim,                                                             -- claim id (docs/scorecard.md)
    any_value(statement) AS statement,                                 -- what the statistic tests
    count(*) AS cells,                                                 -- configurations with a statistic
    count(*) FILTER (WHERE verdict = 'holds') AS holds,                -- interval excludes 0 on the claimed side
    count(*) FILTER (WHERE verdict = 'contradicted') AS contradicted,  -- on the other side
    count(*) FILTER (WHERE verdict = 'inconclusive') AS inconclusive,
    count(*) FILTER (WHERE verdict = '1 seed') AS one_seed,            -- no interval
    count(*) FILTER (WHERE verdict_holm = 'holds') AS holds_holm,      -- after Holm's correction
    count(*) FILTER (WHERE verdict_holm = 'contradicted') AS contradicted_holm,
    count(*) FILTER (WHERE verdict_bh = 'holds') AS holds_bh,          -- after Benjamini-Hochberg's
    count(*) FILTER (WHERE verdict_bh = 'contradicted') AS contradicted_bh
FROM scorecard
GROUP BY curve_part, claim
