-- stg_ablation_orderings (staging): every ablation_orderings partition under tables/ablation_orderings/run_id=<id>/ that passed the cheap integrity check
-- (store.integrity; ${files} is their list), one row per stored row.
-- run_id comes from the hive partition directory; the zero-row '__empty__' partition only fixes the schema.
SELECT *
FROM read_parquet(${files}, hive_partitioning = true, hive_types = {'run_id': VARCHAR}, union_by_name = true)
WHERE run_id <> '__empty__'
