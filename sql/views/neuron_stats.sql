-- neuron_stats: one row per (run, layer, neuron, bits) with every information measure.
SELECT
    run_id, layer, neuron, bits,
    entropy,               -- H(T)
    mutual_info,           -- I(T;Y)
    kl_selectivity,        -- max_y D(P(T|y) || P(T))
    kl_class,              -- the argmax class of kl_selectivity
    js_subset_separation,  -- max over class subsets S of I(T; 1[Y in S])
    js_subset,             -- that S as a bitmask (the side without class K-1)
    labeled_mi,            -- max_y I(T; 1[Y=y])
    labeled_mi_class,      -- its argmax class
    class_selectivity,     -- Morcos et al. index from raw class-conditional means
    mean_train,            -- mean raw output on the training set
    active_frac            -- fraction of validation samples above the 1-bit threshold
FROM stg_neuron_stats
