-- ablation_curves: test error after cumulatively ablating the first n_ablated neurons of an ordering.
SELECT
    run_id,
    scope,         -- 'layer' (one hidden layer alone) | 'network' (all hidden neurons ranked together)
    layer,         -- NULL for scope 'network'
    measure,       -- the ranking measure; 'random' for random orderings
    bits,          -- quantizer bits of the measure; NULL for random orderings
    ordering,      -- 'low_first' | 'high_first' | 'random'
    strategy,      -- 'zero' | 'mean' (training-set mean)
    repeat,        -- random seed 0..R-1; 0 otherwise
    n_ablated, frac_ablated, test_error
FROM stg_ablation_curves
