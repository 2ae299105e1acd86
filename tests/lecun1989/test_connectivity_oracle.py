"""H2's connectivity checked against an independent oracle: which H1 maps each H2 map
reads, written out literally from Karpathy's lecun1989-repro (the paper, section 5.1,
says only "8 of the 12"; which 8 is Karpathy's grouping, our `three_groups`):

    x = F.pad(x, (2, 2, 2, 2), 'constant', -1.0)
    slice1 = F.conv2d(x[:, 0:8], self.H2w[0:4], stride=2)                                  # H2 0-3
    slice2 = F.conv2d(x[:, 4:12], self.H2w[4:8], stride=2)                                 # H2 4-7
    slice3 = F.conv2d(torch.cat((x[:, 0:4], x[:, 8:12]), dim=1), self.H2w[8:12], stride=2)  # H2 8-11

The behaviour is tested (which H1 maps move which H2 maps), not how model.py writes it.
"""

from __future__ import annotations

import pytest
import torch

from lecun1989.model import ModelConfig, build_model

# H2 map -> the H1 maps it reads (every one of the twelve, literally).
READS = {
    0: {0, 1, 2, 3, 4, 5, 6, 7},
    1: {0, 1, 2, 3, 4, 5, 6, 7},
    2: {0, 1, 2, 3, 4, 5, 6, 7},
    3: {0, 1, 2, 3, 4, 5, 6, 7},
    4: {4, 5, 6, 7, 8, 9, 10, 11},
    5: {4, 5, 6, 7, 8, 9, 10, 11},
    6: {4, 5, 6, 7, 8, 9, 10, 11},
    7: {4, 5, 6, 7, 8, 9, 10, 11},
    8: {0, 1, 2, 3, 8, 9, 10, 11},
    9: {0, 1, 2, 3, 8, 9, 10, 11},
    10: {0, 1, 2, 3, 8, 9, 10, 11},
    11: {0, 1, 2, 3, 8, 9, 10, 11},
}
ORACLE_MASK = torch.tensor([[1.0 if i in READS[j] else 0.0 for i in range(12)] for j in range(12)])


def observed_reads(model) -> dict[int, set[int]]:
    """H2 map j reads H1 map i iff moving H1 map i (through its biases) moves H2 map j."""
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.double) * 2 - 1
    with torch.no_grad():
        base = model.layers(x)["h2"]
        reads: dict[int, set[int]] = {j: set() for j in range(12)}
        for i in range(12):
            saved = model.h1_b[i].clone()
            model.h1_b[i] += 0.5
            moved = (model.layers(x)["h2"] - base).abs().amax(dim=(0, 2, 3))  # per H2 map
            model.h1_b[i] = saved
            for j in range(12):
                if moved[j] > 1e-9:
                    reads[j].add(i)
    return reads


def test_every_h2_map_reads_exactly_the_h1_maps_of_karpathys_table():
    model = build_model(ModelConfig(init_fan_in_power=0.5), seed=0).double()
    reads = observed_reads(model)
    wrong = {j: (sorted(reads[j]), sorted(READS[j])) for j in range(12) if reads[j] != READS[j]}
    assert not wrong, f"H2 maps reading other H1 maps than the table (map: (reads, should read)): {wrong}"


def test_h1_gradients_reach_only_the_connected_h2_maps():
    """The same table by gradients: d(H2 map j)/d(H1 map i) is zero exactly where unconnected."""
    model = build_model(ModelConfig(init_fan_in_power=0.5), seed=1).double()
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.double) * 2 - 1
    seen = torch.zeros(12, 12)
    for j in range(12):
        model.zero_grad()
        h2 = model.layers(x)["h2"]
        h2[:, j].sum().backward()
        # h1_b has one bias per H1 unit: its gradient is d(H2 map j)/d(H1 map i) at every unit.
        seen[j] = (model.h1_b.grad.abs().sum(dim=(1, 2)) > 0).double()
    bad = [(j, i) for j in range(12) for i in range(12) if seen[j, i] != ORACLE_MASK[j, i]]
    assert not bad, f"(H2 map, H1 map) pairs whose gradient contradicts the table: {bad}"


def test_the_models_own_mask_is_the_table():
    """`h2_mask` (what the paper's connection count and the reference tests read) is the table."""
    model = build_model(ModelConfig(), seed=0)
    assert torch.equal(model.h2_mask(), ORACLE_MASK), "h2_mask() is not Karpathy's table of H2 inputs"
    assert model.h2_mask().sum().item() == 96  # 12 maps x 8 inputs: section 5.1's "8 of the 12"


@pytest.mark.parametrize("scheme,reads", [("full", 12)])
def test_the_dense_option_reads_every_map(scheme, reads):
    model = build_model(ModelConfig(h2_scheme=scheme, init_fan_in_power=0.5), seed=0).double()
    assert all(len(r) == reads for r in observed_reads(model).values())
