"""Object storage against local disk: capture and measure of one network into an S3 warehouse (moto's
S3 server on 127.0.0.1, the same protocol and client code as a real bucket) and into a local one, in
one run, alternating, after a warm-up each. Network: the fashion-mnist preset (784-300-100, seeded
random weights) on Fashion-MNIST, bits 1-3. Prints medians (min-max) and the S3/local ratio. A real
bucket adds network latency and bandwidth that loopback does not have: this measures the client path
(fsspec, s3fs, one PUT per object, zarr's FsspecStore), not a network.
"""
import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from flows.stages import capture_run, measure_run
from pipeline.model import MLP
from pipeline.spec import preset_spec
from store.checkpoints import save_checkpoint
from store.paths import open_warehouse, remove_tree


def one_round(wh, run_id) -> tuple[float, float]:
    if wh.local:
        shutil.rmtree(Path(wh.activations(run_id)), ignore_errors=True)
    else:
        remove_tree(wh.activations(run_id))
    started = time.perf_counter()
    capture_run(wh, run_id, (1, 2, 3))
    captured = time.perf_counter()
    measure_run(wh, run_id, force=True)
    return captured - started, time.perf_counter() - captured


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=5391, verbose=False)
    server.start()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      FSSPEC_S3_ENDPOINT_URL="http://127.0.0.1:5391", AWS_ENDPOINT_URL="http://127.0.0.1:5391")
    boto3.client("s3", endpoint_url="http://127.0.0.1:5391").create_bucket(Bucket="bench")
    spec = preset_spec("fashion-mnist", 784, 10, regularizer="dropout")
    torch.manual_seed(0)
    model = MLP(spec).eval()
    times = {"local": [], "s3": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            warehouses = {"local": open_warehouse(tmp), "s3": open_warehouse("s3://bench/wh")}
            run_ids = {k: save_checkpoint(wh, model) for k, wh in warehouses.items()}
            for kind, wh in warehouses.items():
                one_round(wh, run_ids[kind])  # warm-up
            for i in range(args.repeats):
                for kind in (("local", "s3") if i % 2 == 0 else ("s3", "local")):
                    times[kind].append(one_round(warehouses[kind], run_ids[kind]))
    finally:
        server.stop()
    print(f"S3 (moto on loopback) vs local disk, {spec.name}, bits 1-3, {args.repeats} rounds, "
          f"load average {os.getloadavg()[0]:.2f}")
    for stage, index in (("capture", 0), ("measure", 1)):
        local = [t[index] for t in times["local"]]
        s3 = [t[index] for t in times["s3"]]
        print(f"  {stage}: local {statistics.median(local):.3f} s ({min(local):.3f}-{max(local):.3f}), "
              f"s3 {statistics.median(s3):.3f} s ({min(s3):.3f}-{max(s3):.3f}): "
              f"s3/local {statistics.median(s3) / statistics.median(local):.2f}x")


if __name__ == "__main__":
    main()
