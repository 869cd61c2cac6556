-- neuron_pairs: one row per pair of neurons (i < j) and bits: what they carry about the class together.
-- Definitions in docs/measures-pairs.md; the four atoms of each redundancy add up to joint_mi.
SELECT
    run_id, bits,
    layer_i, neuron_i,   -- first neuron: (layer_i, neuron_i) < (layer_j, neuron_j)
    layer_j, neuron_j,   -- second neuron (another layer only for pairs computed --across-layers)
    mutual_info_i,       -- I(Ti;Y)
    mutual_info_j,       -- I(Tj;Y)
    joint_mi,            -- I(Ti,Tj;Y)
    pair_mi,             -- I(Ti;Tj), label-free
    red_mmi,             -- minimum-mutual-information redundancy min(I(Ti;Y), I(Tj;Y))
    red_min,             -- Williams-Beer I_min: sum_y p(y) min(I_spec(Ti;y), I_spec(Tj;y))
    unique_i_min, unique_j_min, synergy_min,  -- atoms with red_min: I(Ti;Y) - red_min, ..., joint_mi - I(Ti;Y) - I(Tj;Y) + red_min
    unique_i_mmi, unique_j_mmi, synergy_mmi,  -- the same with red_mmi
    co_info              -- I(Ti;Y) + I(Tj;Y) - I(Ti,Tj;Y) (> 0: redundancy dominates)
FROM stg_neuron_pairs
