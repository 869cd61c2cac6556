"""A sample of bench/coverage_torchvision.py in the suite: six torchvision architectures (random weights, 32x32
inputs) through the three coverage checks of bench/coverage_checks.py (shared with the bench, not copied):
default unit layers with finite units, finite 1-bit measures with 0 <= I <= H, and one ablation point of the
hooked engine equal to a plain masked forward (the reference is written there, independent of the engine and of
UnitLayer.mask), which changes some predictions (the check is not vacuous). Smaller than the bench to stay fast:
16 images, the first 16 units of each layer measured, in one call of the SQL models. docs/coverage.md has every
torchvision model."""
import sys
from pathlib import Path

import pytest
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from coverage_checks import check_network, random_batch  # noqa: E402
from pipeline.threads import torch_threads  # noqa: E402

# (builder, input side, builder kwargs, expected unit kinds): the smallest variant of each family
SAMPLE = [
    ("resnet18", 32, {}, {"channel"}),
    ("mobilenet_v3_small", 32, {}, {"channel", "neuron"}),
    ("densenet121", 32, {}, {"channel"}),
    ("efficientnet_b0", 32, {}, {"channel"}),
    ("vit_b_32", 32, {"image_size": 32}, {"token"}),  # vit_b_16 has 5 tokens at 32x32, this 2: 1.8x faster
    ("convnext_tiny", 32, {}, {"channel_last"}),
]


@pytest.mark.parametrize("name,size,kwargs,kinds", SAMPLE, ids=[s[0] for s in SAMPLE])
def test_a_torchvision_architecture_passes_the_coverage_checks(name, size, kwargs, kinds):
    with torch_threads(1):
        torch.manual_seed(0)
        network = torchvision.models.get_model(name, weights=None, num_classes=10, **kwargs)
        x, labels = random_batch((3, size, size), samples=8)
        found = check_network(network, x, labels, per_layer=False, units_measured=16)
    assert set(found.kinds) == kinds
    assert found.units > 0 and found.ablated >= 2
    assert found.engine_errors == found.reference_errors > 0
