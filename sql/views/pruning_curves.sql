-- pruning_curves: test error of a run physically pruned by a criterion (prune-sweep), without and with fine-tuning.
SELECT
    run_id,            -- the run that was pruned (the pruned networks themselves are not registered)
    measure,           -- criterion: an information measure, a neuron_baselines criterion, or 'random'
    bits,              -- quantizer bits of an information measure; NULL otherwise
    scope,             -- 'network' | 'layer'
    strategy,          -- 'zero' | 'mean' (bias balancing)
    finetune_epochs,   -- epochs of fine-tuning after pruning (0: none)
    keep,              -- requested kept fraction
    kept_fraction,     -- hidden neurons kept / the run's hidden neurons
    hidden_sizes,      -- widths of the pruned network
    n_params,          -- its weights and biases
    val_error, test_error,
    note               -- where a layer's one-neuron minimum bound
FROM stg_pruning_curves
