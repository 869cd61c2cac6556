"""Compaction (store.segments, store.compaction): settled per-run files move into segments and every promise
of the per-run layout keeps holding: the same rows in every view, per-run records and freshness, rm, verify,
repair of a damaged segment, a rewrite of a compacted run, crashes on either side of the commit, two
compactions racing, readers during a compaction, and the upgrade of a format-3 warehouse."""
import json
import threading
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.stages import ablate_run
from store import compaction
from store.compaction import Policy, compact
from store.lifecycle import FORMAT_VERSION, prepare, remove_run
from store.sandbox import query, sandboxed_connection
from store.segments import IndexConflict, commit, read_index
from store.views import views_for
from store.tables import has_tail, partition_params, partition_record, read_partition, write_partition

NOW = replace(Policy(), settle_s=0.0, grace_s=0.0)  # every file settled, moved files deleted at once
VIEWS = ("runs", "neuron_stats", "counts", "quantizers", "measure_estimates", "ablation_curves", "ablation_auc")


def snapshot(wh) -> dict:
    """Every row of VIEWS, through one connection with just those views."""
    con = sandboxed_connection(wh, views=views_for(VIEWS))
    try:
        return {v: con.sql(f"SELECT * FROM {v} ORDER BY ALL").to_arrow_table().to_pylist() for v in VIEWS}
    finally:
        con.close()


def tail_files(wh) -> list[Path]:
    return [p for p in (wh.root / "tables").rglob("run_id=*/data.parquet") if "__empty__" not in str(p)]


def segment_runs(wh, table: str) -> list[str]:
    """The run_ids inside a table's segment files, read with pyarrow (not through the store)."""
    return sorted({r for p in (wh.root / "tables" / table / "_segments").glob("*.parquet")
                   for r in pq.read_table(p, columns=["run_id"])["run_id"].to_pylist()})


def test_compaction_keeps_every_row_record_and_freshness(warehouse, run_verb):
    wh, run_ids = warehouse
    before = snapshot(wh)
    parts = {(t, r): read_partition(wh, t, r) for t in ("neuron_stats", "ablation_curves") for r in run_ids}
    records = {(t, r): partition_record(wh, t, r) for t in ("neuron_stats", "ablation_curves") for r in run_ids}
    tails = len(tail_files(wh))

    code, out, err = run_verb("compact", "--all", "--settle", "0", "--warehouse", str(wh.root))
    assert code == 0 and "neuron_stats: 2 tail files moved" in out, out + err
    assert len(tail_files(wh)) == tails >= 16  # kept for readers that listed them (the grace period)...
    assert snapshot(wh) == before  # ...holding the rows the segments hold: shown once
    code, out, err = run_verb("gc", "--older-than", "0.00001", "--warehouse", str(wh.root))
    assert code == 0 and tail_files(wh) == [], out + err
    assert segment_runs(wh, "neuron_stats") == sorted(run_ids)
    assert snapshot(wh) == before  # the same rows in every view (warehouse_problems: none)
    for key, rows in parts.items():
        assert read_partition(wh, *key).equals(rows)
        assert partition_record(wh, *key)["sha256"] == records[key]["sha256"]  # the fingerprint stages compare
    # fresh inputs: ablating again with the same options recomputes nothing (its curves are not rewritten)
    ablate_run(wh, run_ids[0], random_repeats=1, steps=4)
    assert not has_tail(wh, "ablation_curves", run_ids[0])
    assert run_verb("verify", "--warehouse", str(wh.root))[0] == 0


def test_a_run_written_again_replaces_its_compacted_rows(warehouse):
    wh, run_ids = warehouse
    compact(wh, NOW, force=True)
    before = query(wh, "SELECT run_id, count(*) AS n FROM ablation_curves GROUP BY ALL ORDER BY ALL").to_pylist()
    k_values = f"SELECT count(DISTINCT n_ablated) AS n FROM ablation_curves WHERE run_id = '{run_ids[1]}'"
    grid_before = query(wh, k_values).to_pylist()[0]["n"]
    ablate_run(wh, run_ids[1], random_repeats=1, steps=6)  # another k-grid: merged beside the compacted curves
    counts = {r["run_id"]: r["n"] for r in query(wh, "SELECT run_id, count(*) AS n FROM ablation_curves GROUP BY ALL").to_pylist()}
    assert counts[run_ids[0]] == before[[r["run_id"] for r in before].index(run_ids[0])]["n"]
    assert counts[run_ids[1]] > before[[r["run_id"] for r in before].index(run_ids[1])]["n"]
    assert query(wh, k_values).to_pylist()[0]["n"] > grid_before
    # a run's tail file replaces its rows in segments: changed values show once, never beside the old ones
    stats = read_partition(wh, "neuron_stats", run_ids[0])
    changed = stats.set_column(stats.schema.get_field_index("entropy"), "entropy", pa.array([0.5] * stats.num_rows))
    write_partition(wh, "neuron_stats", run_ids[0], changed, partition_params(wh, "neuron_stats", run_ids[0]))
    seen = query(wh, f"SELECT count(*) AS n, min(entropy) AS lo, max(entropy) AS hi FROM neuron_stats WHERE run_id = '{run_ids[0]}'").to_pylist()
    assert seen == [{"n": stats.num_rows, "lo": 0.5, "hi": 0.5}]
    after = snapshot(wh)
    assert compact(wh, NOW, force=True)  # moved again: the newer segment wins, the older's copy is never shown
    assert snapshot(wh) == after
    # written a third time, then moved and merged in one pass (fanout 2: the older segment still showing a run and
    # the one just made):
    # the segment just made is retired with the others, never left live beside the merged one
    write_partition(wh, "neuron_stats", run_ids[0], stats, partition_params(wh, "neuron_stats", run_ids[0]))
    after = snapshot(wh)
    assert compact(wh, replace(NOW, fanout=2), force=True)
    index = read_index(wh)
    assert [s.level for s in index.of("neuron_stats")] == [2]
    assert not {s.file for s in index.segments} & {file for file, _ in index.retired}
    assert snapshot(wh) == after


def test_rm_of_a_compacted_run_removes_its_rows_from_every_segment(warehouse, run_verb):
    wh, (gone, kept) = warehouse
    compact(wh, NOW, force=True)
    kept_rows = query(wh, f"SELECT * FROM neuron_stats WHERE run_id = '{kept}' ORDER BY ALL").to_pylist()
    code, out, err = run_verb("rm", gone, "--warehouse", str(wh.root))
    assert code == 0 and "compacted segments" in out, out + err
    for view in ("runs", "neuron_stats", "ablation_curves", "quantizers"):
        assert query(wh, f"SELECT count(*) AS n FROM {view} WHERE run_id = '{gone}'").to_pylist() == [{"n": 0}]
    for table in ("runs", "neuron_stats", "counts", "ablation_curves"):
        assert segment_runs(wh, table) == sorted([kept, gone])  # the old file stays for readers of the old index...
    compaction.expire(wh, grace_s=-1)  # ...until its grace period ends (gc)
    for table in ("runs", "neuron_stats", "counts", "ablation_curves"):
        assert segment_runs(wh, table) == [kept]
    assert query(wh, f"SELECT * FROM neuron_stats WHERE run_id = '{kept}' ORDER BY ALL").to_pylist() == kept_rows
    assert run_verb("verify", "--warehouse", str(wh.root))[0] == 0
    assert run_verb("rm", gone, "--warehouse", str(wh.root))[0] == 2  # unknown now


def test_a_damaged_segment_hides_only_its_runs_table_and_is_repaired(warehouse, run_verb):
    wh, run_ids = warehouse
    compact(wh, NOW, force=True)
    before = snapshot(wh)
    segment = next((wh.root / "tables" / "neuron_stats" / "_segments").glob("*.parquet"))
    segment.write_bytes(segment.read_bytes()[:-100])  # truncated
    problems = query(wh, "SELECT run_id, kind, problem FROM warehouse_problems ORDER BY run_id").to_pylist()
    assert [(p["run_id"], p["kind"]) for p in problems] == [(r, "neuron_stats") for r in sorted(run_ids)]
    assert "compacted segment" in problems[0]["problem"]
    assert query(wh, "SELECT count(*) AS n FROM neuron_stats").to_pylist() == [{"n": 0}]
    assert snapshot(wh)["ablation_curves"] == before["ablation_curves"]  # other tables of the same runs still show
    code, out, err = run_verb("verify", "--warehouse", str(wh.root))
    assert code == 3 and out.count("compacted segment") == 2, out + err
    code, out, err = run_verb("verify", "--repair", "--warehouse", str(wh.root))
    assert code == 0, out + err
    assert snapshot(wh)["neuron_stats"] == before["neuron_stats"]  # made again as tail files, which replace the segment's rows
    compact(wh, NOW, force=True)  # the repaired rows move; the damaged segment, holding nothing shown, is retired
    assert snapshot(wh) == before and segment.name not in [s.file.rsplit("/", 1)[1] for s in read_index(wh).segments]
    assert run_verb("verify", "--warehouse", str(wh.root))[0] == 0


def test_a_crash_on_either_side_of_the_commit_loses_and_duplicates_nothing(warehouse, monkeypatch, run_verb):
    wh, run_ids = warehouse
    before = snapshot(wh)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:  # after the segments are written, before the index commit
        m.setattr(compaction, "commit", crash)
        with pytest.raises(KeyboardInterrupt):
            compact(wh, NOW, force=True)
    assert read_index(wh).version == 0 and snapshot(wh) == before
    orphans = list((wh.root / "tables").rglob("_segments/*.parquet"))
    assert orphans  # written, never listed: no reader sees them; gc removes them once old
    code, out, _ = run_verb("gc", "--older-than", "0.00001", "--warehouse", str(wh.root))
    assert code == 0 and not list((wh.root / "tables").rglob("_segments/*.parquet")), out

    with monkeypatch.context() as m:  # after the commit, before the moved tail files are deleted
        m.setattr(compaction, "_delete_moved", crash)
        with pytest.raises(KeyboardInterrupt):
            compact(wh, NOW, force=True)
    assert tail_files(wh) and read_index(wh).version == 1
    assert snapshot(wh) == before  # each run's tail file replaces its copy in the segment: no duplicate rows
    compact(wh, NOW, force=True)  # the rerun deletes them (moved already: not moved again)
    assert tail_files(wh) == [] and snapshot(wh) == before


def test_two_compactions_commit_one_version_each(warehouse):
    wh, run_ids = warehouse
    stale = read_index(wh)
    commit(wh, stale, [], [])  # another writer commits version 1 first
    with pytest.raises(IndexConflict):
        commit(wh, stale, [], [])
    before = snapshot(wh)
    results = []
    threads = [threading.Thread(target=lambda: results.append(compact(wh, NOW, force=True))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(bool, results)) == [False, True]  # one moved the files, the other found nothing left to move
    assert snapshot(wh) == before and tail_files(wh) == []


def test_readers_during_compaction_always_see_every_row(warehouse):
    wh, run_ids = warehouse
    expected = query(wh, "SELECT count(*) AS n, sum(mutual_info) AS s FROM neuron_stats").to_pylist()[0]
    seen, done = [], threading.Event()

    def read():
        while not done.is_set():
            seen.append(query(wh, "SELECT count(*) AS n, sum(mutual_info) AS s FROM neuron_stats").to_pylist()[0])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(3):  # move, then rewrite a run and move again (merging)
            compact(wh, replace(NOW, fanout=2, grace_s=600), force=True)  # files stay for readers that listed them
            ablate_run(wh, run_ids[round_ % 2], random_repeats=1, steps=4 + round_ + 1)
    finally:
        done.set()
        reader.join()
    assert len(seen) >= 3
    assert all(s["n"] == expected["n"] and s["s"] == pytest.approx(expected["s"], abs=1e-9) for s in seen), (expected, seen)


def test_a_format_3_warehouse_upgrades_in_place(warehouse, run_verb):
    wh, run_ids = warehouse
    for record in (wh.root / "tables").rglob("*.manifest.json"):  # format 3 wrote no schema into its records
        entry = json.loads(record.read_text())
        entry.pop("schema", None)
        record.write_text(json.dumps(entry))
    (wh.root / "warehouse.json").write_text(json.dumps({"format_version": 3}))
    before = snapshot(wh)
    prepare(wh.root)
    assert json.loads((wh.root / "warehouse.json").read_text()) == {"format_version": FORMAT_VERSION} and FORMAT_VERSION == 4
    assert snapshot(wh) == before  # its files are read as files of an older schema until moved
    assert run_verb("compact", "--all", "--settle", "0", "--grace", "0", "--warehouse", str(wh.root))[0] == 0
    assert snapshot(wh) == before and tail_files(wh) == []
    assert run_verb("verify", "--warehouse", str(wh.root))[0] == 0
    remove_run(wh, run_ids[0])
    assert [r["run_id"] for r in query(wh, "SELECT run_id FROM runs").to_pylist()] == [run_ids[1]]
