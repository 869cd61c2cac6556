-- The Fashion-MNIST trajectories read for docs/trajectories.md: per activation, layer, bits and epoch, over the
-- seeds of each configuration, the test error, the mean per-unit H(T) and I(T;Y) (plug-in and Miller-Madow), and
-- the layer-wise ablation gaps at these bits (random minus low-MI-first, high-MI-first minus random).
WITH layers AS (
    SELECT t.activation, t.training_group, t.seed, l.*
    FROM trajectory_layers AS l JOIN trajectories AS t USING (training_id, epoch)
)
SELECT
    activation, layer, bits, epoch,
    count(*) AS seeds,
    avg(test_error) AS test_error,
    avg(mean_entropy) AS h_t,
    min(mean_entropy) AS h_t_min,
    max(mean_entropy) AS h_t_max,
    avg(mean_mutual_info) AS i_ty,
    min(mean_mutual_info) AS i_ty_min,
    max(mean_mutual_info) AS i_ty_max,
    avg(mean_entropy_miller_madow) AS h_t_mm,
    avg(mean_mutual_info_miller_madow) AS i_ty_mm,
    avg(auc_random - auc_low_first) AS low_gain,
    min(auc_random - auc_low_first) AS low_gain_min,
    max(auc_random - auc_low_first) AS low_gain_max,
    avg(auc_high_first - auc_random) AS high_loss,
    min(auc_high_first - auc_random) AS high_loss_min,
    max(auc_high_first - auc_random) AS high_loss_max
FROM layers
GROUP BY ALL
ORDER BY activation, layer, bits, epoch
