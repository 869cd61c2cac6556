-- The scorecard page's provenance table: the runs the claims are tested on, grouped by what made them.
SELECT
    json_extract_string(r.provenance, '$.git_commit') AS code_commit,         -- the project's git commit
    json_extract_string(r.provenance, '$.torch') AS torch,                    -- torch's version
    json_extract_string(r.provenance, '$.train_threads') AS train_threads,    -- intra-op threads of training
    json_extract_string(r.provenance, '$.cpu_capability') AS cpu_capability,  -- the CPU kernels torch used
    count(*) AS runs
FROM runs AS r
JOIN scorecard_runs USING (run_id)
GROUP BY ALL
ORDER BY runs DESC, code_commit
