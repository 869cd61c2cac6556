"""A notebook's work with the Python API alone (run by tests/test_import.py): import and analyse a
checkpoint saved with torch.save, query neuron_stats into pandas/Arrow, load and evaluate the model,
export it and import it back.

    python tests/notebook_example.py SCRATCH_DIR
"""
import sys
from pathlib import Path

import torch
from torch import nn

from flows import api

scratch = Path(sys.argv[1])
warehouse = scratch / "warehouse"

# someone's network, saved the usual way
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
torch.save(net.state_dict(), scratch / "theirs.pt")

run_id = api.analyse_checkpoint(warehouse, scratch / "theirs.pt", dataset="synthetic-4", activation="relu",
                                bits=(1, 2), random_repeats=1, steps=4)
print("analysed", run_id)

con = api.connect(warehouse)
stats = con.sql(f"SELECT layer, neuron, bits, mutual_info FROM neuron_stats WHERE run_id = '{run_id}' ORDER BY ALL").df()
assert len(stats) == (16 + 8) * 2, stats
arrow = con.sql("SELECT run_id, test_error FROM runs").to_arrow_table()  # a pyarrow.Table
test_error = arrow.to_pylist()[0]["test_error"]
print(stats.groupby("layer").mutual_info.median())

model = api.load_model(warehouse, run_id)
assert not model.training
data = api.load_data(warehouse, run_id)  # the splits the run was analysed on
with torch.no_grad():
    error = (model(data.test.x).argmax(1) != data.test.y).float().mean().item()
assert abs(error - test_error) < 1e-9, (error, test_error)

exported = api.export_model(warehouse, run_id, scratch / "exported.pt", format="torch")
again = api.import_checkpoint(scratch / "other_warehouse", exported, dataset="synthetic-4", activation="relu")
same = api.connect(scratch / "other_warehouse").sql(f"SELECT test_error FROM runs WHERE run_id = '{again}'").fetchall()
assert again == run_id and same == [(test_error,)], (again, run_id, same)
print("round trip: same test error", test_error, "and the same run", again)

# join a file of your own: connect() may read the paths you allow, and nothing else
(scratch / "layer_names.csv").write_text("layer,name\n1,first\n2,second\n")
con = api.connect(warehouse, allowed_paths=[scratch / "layer_names.csv"])
named = con.sql(f"SELECT n.name, count(*) AS neurons FROM neuron_stats s JOIN read_csv('{scratch / 'layer_names.csv'}') n "
                f"USING (layer) WHERE s.run_id = '{run_id}' AND bits = 1 GROUP BY ALL ORDER BY ALL").fetchall()
assert named == [("first", 16), ("second", 8)], named
print("joined", named)
