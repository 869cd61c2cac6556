-- trajectories: every kept checkpoint of every training, one row per (training, epoch): the run it became,
-- its errors and how far it has been analysed (docs/trajectories.md). A training's last epoch so far is its
-- final network; a training elsewhere may still add epochs through the inbox.
WITH points AS (
    SELECT *, epoch = max(epoch) OVER (PARTITION BY training_id) AS is_last
    FROM trajectory_points
),

final_groups AS (  -- a training's configuration: its last run's group (trained here), or the training itself
    SELECT p.training_id, CASE WHEN r.origin = 'trained' THEN r.group_name ELSE p.training_id END AS training_group
    FROM points AS p JOIN runs AS r USING (run_id)
    WHERE p.is_last
)

SELECT
    p.training_id,      -- the training (trajectory_points)
    g.training_group,   -- its configuration: trainings of one group differ only by seed
    p.epoch,            -- epochs trained; 0: as initialised
    p.step,             -- optimizer steps by then (NULL: not said)
    p.is_last,          -- the training's last epoch so far
    p.run_id,           -- the checkpoint's run
    r.name,             -- the run's name (its spec says epochs = epoch for a training run here)
    r.dataset,
    r.activation,
    r.seed,
    r.val_error,        -- validation error of the checkpoint (fraction)
    r.test_error,       -- test error of the checkpoint (fraction)
    p.run_id IN (SELECT run_id FROM neuron_stats) AS measured,   -- has its information measures
    p.run_id IN (SELECT run_id FROM ablation_curves) AS ablated  -- has ablation curves
FROM points AS p
JOIN runs AS r USING (run_id)
JOIN final_groups AS g USING (training_id)
