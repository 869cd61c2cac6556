-- runs: one row per trained, pruned or imported network.
WITH stored AS (
    SELECT *, [input_dim] || hidden_sizes || [n_classes] AS widths  -- every layer's width, input to output
    FROM staging.stg_runs
)
SELECT
    run_id,          -- first 16 hex digits of the SHA-256 of the checkpoint file
    name,            -- readable label: dataset-sizes-activation-regularizer-s<seed>
    group_name,      -- the name without the seed (runs of a group differ only by seed)
    dataset, input_dim, n_classes,
    hidden_sizes,    -- widths of the hidden layers 1..L
    activation,      -- 'relu' | 'sigmoid'
    regularizer,     -- 'none' | 'l2' | 'dropout' | 'dropout_bn'
    weight_decay, dropout, seed, epochs, lr,
    n_train, n_val, n_test,
    val_error, test_error,  -- fraction misclassified by the unablated network
    spec,            -- the checkpoint's spec JSON
    created_at,
    provenance,      -- JSON: package versions (neuroninfo, torch, numpy, duckdb, zarr, pyarrow, prefect) and git commit; NULL for older runs
    coalesce(origin, 'trained') AS origin,  -- 'trained' | 'pruned' | 'imported' (rows older than the column: 'trained')
    parent_run_id,   -- pruned runs: the run they were cut from; NULL otherwise
    pruned_by,       -- pruned runs: criterion@bits/scope/strategy/ft<epochs>; NULL otherwise
    kept_fraction,   -- pruned runs: hidden neurons kept / the parent's; NULL otherwise
    coalesce(n_params,  -- weights and biases (+ 2 per neuron with batch norm); computed from the sizes for older rows
        list_sum(list_transform(range(1, len(widths)), lambda i: widths[i] * widths[i + 1] + widths[i + 1]))
        + CASE WHEN regularizer = 'dropout_bn' THEN 2 * list_sum(hidden_sizes) ELSE 0 END)::BIGINT AS n_params,
    coalesce(json_extract_string(spec, '$.arch'), 'mlp') AS arch  -- 'mlp' | 'cnn' | 'vit' | 'torchvision:NAME' | 'package.module:Class'
FROM stored
