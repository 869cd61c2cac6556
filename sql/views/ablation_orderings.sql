-- ablation_orderings: the random orderings ablation used, position by position (reports read them back).
SELECT
    run_id,
    scope,         -- 'layer' | 'network'
    layer,         -- NULL for scope 'network'
    repeat,        -- the ordering's seed
    position,      -- 0-based place in the ordering
    neuron_layer,  -- the neuron's hidden layer
    neuron         -- the neuron's index within its layer
FROM stg_ablation_orderings
