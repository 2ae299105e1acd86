"""Typed config parsing (repro/config.py) and the shared trainer's checks (repro/train/task.py):
every bad value is a ConfigError naming its config path, before anything runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from repro.config import ConfigError, parse, parse_seed
from repro.train.optim import OptimConfig
from repro.train.task import TrainerConfig, check_device_name, require_device


@dataclass(frozen=True)
class Knobs:
    scale: float = 1.0
    cap: float | None = None
    weights: tuple[float, ...] = (1.0,)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key,value,path", [
    ("scale", None, "knobs.scale"),
    ("cap", None, "knobs.cap"),  # an optional float
    ("weights", [1.0, None], "knobs.weights[1]"),  # inside a list
])
def test_non_finite_floats_are_refused_with_the_config_path(bad, key, value, path):
    value = bad if value is None else [bad if v is None else v for v in value]
    with pytest.raises(ConfigError) as err:
        parse(Knobs, {key: value}, "knobs")
    assert str(err.value) == f"{path}: expected a finite number, got {bad!r}"


@pytest.mark.parametrize("key", ["lr", "momentum", "weight_decay", "lr_final", "warmup", "gamma", "plateau_threshold"])
def test_every_float_of_the_shared_optimizer_must_be_finite(key):
    # nan passes every range check (each comparison is False): it must be refused by type.
    with pytest.raises(ConfigError, match=rf"^optim\.{key}: expected a finite number, got nan$"):
        parse(OptimConfig, {key: math.nan}, "optim")


def test_finite_floats_and_integers_still_parse():
    assert parse(Knobs, {"scale": 2, "cap": 0.5, "weights": [1, 2.5]}, "knobs") == Knobs(2.0, 0.5, (1.0, 2.5))


@pytest.mark.parametrize("value,message", [
    ("abc", "seed: expected an integer, got 'abc'"),
    (1.5, "seed: expected an integer, got 1.5"),
    (True, "seed: expected an integer, got True"),
    (None, "seed: expected an integer, got None"),
    (-1, "seed: -1 is out of range; use an integer in [0, 2**32)"),
    (2**32, f"seed: {2**32} is out of range; use an integer in [0, 2**32)"),
])
def test_bad_seeds_are_config_errors(value, message):
    with pytest.raises(ConfigError) as err:
        parse_seed(value)
    assert str(err.value) == message


def test_good_seeds_parse():
    assert parse_seed(0) == 0 and parse_seed(2**32 - 1) == 2**32 - 1


@pytest.mark.parametrize("device", ["garbage", "meta", "cuda:x", ""])
def test_trainer_device_must_be_a_device_to_train_on(device):
    with pytest.raises(ConfigError) as err:
        parse(TrainerConfig, {"device": device}, "trainer")
    assert str(err.value).startswith(f"trainer: device={device!r} is not a device to train on; use cpu, cuda or cuda:<index>")


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "mps"])
def test_device_names_are_checked_without_the_hardware(device):
    check_device_name(device, "device")  # syntax only: composing a GPU config works on a CPU machine
    assert parse(TrainerConfig, {"device": device}, "trainer").device == device


def test_a_missing_gpu_is_named_as_such(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as err:
        require_device("cuda")
    assert str(err.value) == ("trainer.device=cuda but no CUDA GPU is available (torch.cuda.is_available() is False); "
                              "run on the CPU with trainer.device=cpu")
    with pytest.raises(ConfigError, match=r"^parallel.tower_devices\[1\]=cuda:1 but no CUDA GPU .*; use the CPU$"):
        require_device("cuda:1", "parallel.tower_devices[1]", cpu_hint="use the CPU")
    require_device("cpu")


def test_a_gpu_index_beyond_the_machine_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    require_device("cuda")
    require_device("cuda:1")
    with pytest.raises(ConfigError) as err:
        require_device("cuda:2")
    assert str(err.value) == ("trainer.device=cuda:2 but this machine has 2 CUDA GPU(s), cuda:0..cuda:1; "
                              "run on the CPU with trainer.device=cpu")

