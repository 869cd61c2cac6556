-- staging.stg_${table} (internal: its own schema, out of SHOW TABLES), part 1 of 2: the tail. Every ${table} file
-- under tables/${table}/run_id=<id>/ that passed the cheap integrity check (store.integrity; store.partitions lists
-- them), one row per stored row; run_id comes from the hive partition directory. One model for every stored table
-- (the contracts whose storage is not 'none'); store.views joins the parts with UNION ALL BY NAME.
-- Files written under the current schema are read as one (only the first is opened to bind: the zero-row
-- '__empty__' partition, which fixes the schema); files of older schemas by name (${by_name}: each opened to bind).
SELECT *
FROM read_parquet(${files}, hive_partitioning = true, hive_types = {'run_id': VARCHAR}, union_by_name = ${by_name})
WHERE run_id <> '__empty__'
