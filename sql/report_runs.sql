-- report_runs: the runs a report covers (source `selected_runs`), for its title and caption.
SELECT
    run_id,
    name,          -- dataset-sizes-activation-regularizer-s<seed>
    group_name,    -- the name without the seed
    seed,
    dataset,
    hidden_sizes,  -- widths of hidden layers 1..L
    activation,
    regularizer,
    test_error,    -- fraction of test samples misclassified by the unablated network
    n_test,
    arch           -- mlp | cnn | vit | torchvision:NAME | package.module:Class
FROM runs JOIN selected_runs USING (run_id)
ORDER BY seed, run_id
