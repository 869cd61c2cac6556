-- staging.stg_${table}, part 2 of 2: compacted segments (store.segments) of one schema. Many runs' rows per file,
-- run_id a column of the file, sorted by it (a filter on run_id skips row groups by their statistics). The
-- segments leave out the runs whose rows a tail file or a newer segment holds, and runs without a whole `runs`
-- row: ${hidden}.
SELECT *
FROM read_parquet(${files}, hive_partitioning = false)
WHERE run_id NOT IN (${hidden})
