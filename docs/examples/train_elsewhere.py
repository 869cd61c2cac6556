"""A training loop that is not neuroninfo's: plain PyTorch, dropping each epoch's weights into an inbox.

    python docs/examples/train_elsewhere.py --inbox warehouse/inbox --training my-job --epochs 8

After every epoch (and once before training: epoch 0) it writes ``<training>-epoch<E>.json``, the sidecar
saying what the network is and where in which training it sits, then ``<training>-epoch<E>.pt``, the
``state_dict``, in one rename (a sidecar whose checkpoint has not arrived waits for it). The deployment
``reanalyze-checkpoints/scheduled`` analyses each checkpoint as it arrives and links them into one
trajectory: ``SELECT * FROM trajectories WHERE training_id = 'my-job'`` (docs/trajectories.md).
"""
import argparse
import json
import os
from pathlib import Path

import torch
from torch import nn

from pipeline.data import load_dataset  # the data neuroninfo evaluates on; any loader of the same files would do


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inbox", required=True)
    p.add_argument("--training", required=True, help="the name every checkpoint's sidecar gives the training")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--hidden", default="300,100")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--n-val", type=int, default=10000, help="held out of training (neuroninfo measures on it)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    data = load_dataset(args.dataset, seed=args.seed, n_val=args.n_val)
    widths = [data.input_dim, *map(int, args.hidden.split(",")), data.n_classes]
    torch.manual_seed(args.seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    model = nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inbox = Path(args.inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    steps = 0

    def drop(epoch: int) -> None:
        name = f"{args.training}-epoch{epoch}"
        sidecar = {"dataset": args.dataset, "activation": "relu", "regularizer": "none", "seed": args.seed,
                   "epochs": epoch, "n_val": args.n_val, "inputs": "unit",
                   "trajectory": {"training": args.training, "epoch": epoch, "step": steps}}
        (inbox / f"{name}.json").write_text(json.dumps(sidecar))
        partial = inbox / f".{name}.pt.partial"  # hidden: the inbox ignores it until the rename
        torch.save(model.state_dict(), partial)
        os.replace(partial, inbox / f"{name}.pt")

    drop(0)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(data.train.y))
        for batch in order.split(128):
            loss = nn.functional.cross_entropy(model(data.train.x[batch]), data.train.y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
        drop(epoch)
        print(f"epoch {epoch}: loss {loss.item():.3f}, checkpoint in {inbox}")


if __name__ == "__main__":
    main()
