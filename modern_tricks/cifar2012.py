"""The 2012 era's tricks: ablations of the AlexNet paper's choices, and the modern
changes since, on cuda-convnet's CIFAR-10 recipes (alexnet2012 with a
`cuda-convnet` model; selected by `trick2012=[...]`).

Each edits the alexnet2012 Recipe: the model's ablation switches
(alexnet2012/convnet/model.py), the optimizer, the schedule or the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .trick import Stage, Trick, edit, register

ERA = "alexnet2012"


def _cuda_convnet_only(recipe) -> list[str]:
    if getattr(recipe.model, "arch", None) != "cuda-convnet":
        return ["the 2012 tricks edit cuda-convnet's CIFAR-10 nets (model=cc_*, e.g. experiment=cc_layers_18pct)"]
    return []


def _trick(**kwargs) -> Trick:
    return register(Trick(era=ERA, check=_cuda_convnet_only, **kwargs))


# --- ablations of the paper's choices -------------------------------------------------------

NO_RESPONSE_NORM = _trick(
    name="no_response_norm",
    origin="ablates Krizhevsky et al. 2012, section 3.3 (response normalization: CIFAR-10 13% -> 11%)",
    summary="drop every response-normalisation layer",
    stage=Stage.ARCHITECTURE,
    changes=("model.response_norm",),
    apply=lambda r, p: edit(r, {"model.response_norm": False}),
)

NON_OVERLAPPING_POOL = _trick(
    name="non_overlapping_pool",
    origin="ablates Krizhevsky et al. 2012, section 3.4 (overlapping pooling, z=3 s=2 vs z=s=2)",
    summary="2x2 pooling windows at stride 2 instead of 3x3 (same output sizes)",
    stage=Stage.ARCHITECTURE,
    changes=("model.pool_size",),
    apply=lambda r, p: edit(r, {"model.pool_size": 2}),
)

TANH = _trick(
    name="tanh",
    origin="ablates Krizhevsky et al. 2012, section 3.1 (ReLU nonlinearity; Figure 1)",
    summary="tanh wherever the net has ReLU",
    stage=Stage.ARCHITECTURE,
    changes=("model.neuron",),
    apply=lambda r, p: edit(r, {"model.neuron": "tanh"}),
)


@dataclass(frozen=True)
class DropoutParams:
    p: float = 0.5  # the paper's

    def validate(self) -> None:
        if not 0.0 < self.p < 1.0:
            raise ValueError("p must be in (0, 1)")


DROPOUT = _trick(
    name="dropout",
    origin="Hinton et al. 2012; Krizhevsky et al. 2012, section 4.2",
    summary="dropout (p={p}) on the input of the last fully connected layer",
    stage=Stage.ARCHITECTURE,
    changes=("model.dropout",),
    params=DropoutParams,
    apply=lambda r, p: edit(r, {"model.dropout": p.p}),
)

# --- the paper's augmentation (section 4.1), at CIFAR-10's scale -------------------------------


@dataclass(frozen=True)
class CropFlipParams:
    crop: int = 24  # cuda-convnet's cropped CIFAR provider: border 4 of 32 (layers-cifar10-11pct)
    ten_views: bool = True  # the paper's test: ten patches, softmax averaged (after the last pass)

    def validate(self) -> None:
        if not 8 <= self.crop < 32:
            raise ValueError("crop must be in 8..31 (a patch smaller than CIFAR-10's 32x32 images)")


def _crop_flip(r, p):
    # No padding and no upscaling: the paper's patches are smaller than its images, so the net's input
    # shrinks with the crop (the 18pct net's fc10 sees 64x3x3 maps at 24 instead of 64x4x4).
    return edit(r, {"augment.crop": p.crop, "augment.flip": True, "model.input_size": p.crop,
                    "eval.ten_crop": "last" if p.ten_views else "never"})


CROP_FLIP = _trick(
    name="crop_flip",
    origin="Krizhevsky et al. 2012, section 4.1 (random 224x224 patches of the 256x256 images and their "
           "horizontal reflections; ten patches at test), at CIFAR-10's scale as the author's cuda-convnet "
           "crops it (layers-cifar10-11pct: 24x24 of 32x32)",
    summary="random {crop}x{crop} patches of the 32x32 images, each mirrored with probability 1/2; the net's "
            "input is {crop}x{crop}; test: the centre patch every pass, and ten patches (corners, centre, mirrored; "
            "softmax averaged) after the last: {ten_views}",
    stage=Stage.DATA,
    changes=("augment.crop", "augment.flip", "model.input_size", "eval.ten_crop"),
    params=CropFlipParams,
    apply=_crop_flip,
)


@dataclass(frozen=True)
class LightingParams:
    std: float = 0.1  # the paper's: alpha_i ~ N(0, 0.1)

    def validate(self) -> None:
        if not self.std > 0:
            raise ValueError("std must be > 0")


PCA_LIGHTING = _trick(
    name="pca_lighting",
    origin="Krizhevsky et al. 2012, section 4.1 (altering the intensities of the RGB channels: PCA colour noise)",
    summary="add to each training image the principal components of the training set's RGB pixels, each times "
            "alpha * its eigenvalue, alpha ~ N(0, {std:g}) per image (eigenvalues of pixels in [0,1]: "
            "augment.lighting_units)",
    stage=Stage.DATA,
    changes=("augment.lighting_std",),
    params=LightingParams,
    apply=lambda r, p: edit(r, {"augment.lighting_std": p.std}),
)


@dataclass(frozen=True)
class PadCropFlipParams:
    pad: int = 4  # He et al. 2016: "4 pixels are padded on each side"

    def validate(self) -> None:
        if not 1 <= self.pad <= 16:
            raise ValueError("pad must be in 1..16")


def _whole_size_crops(recipe) -> list[str]:
    problems = _cuda_convnet_only(recipe)
    if recipe.augment.crop != recipe.data.image_size:
        problems.append("pad_crop_flip crops the whole image size from the padded image; crop_flip's smaller "
                        "patches are the other recipe: choose one")
    return problems


PAD_CROP_FLIP = register(Trick(
    era=ERA,
    check=_whole_size_crops,
    name="pad_crop_flip",
    origin="He et al. 2016, section 4.2 (CIFAR-10: 4 pixels padded on each side, a random 32x32 crop of the "
           "padded image or its horizontal flip; test on the original 32x32 image), after Lee et al. 2015",
    summary="each training image padded by {pad} zero pixels (zero after mean subtraction) on every side, a "
            "random 32x32 crop of it, mirrored with probability 1/2; the net's input stays 32x32; test: the whole image",
    stage=Stage.DATA,
    changes=("augment.pad", "augment.flip"),
    params=PadCropFlipParams,
    apply=lambda r, p: edit(r, {"augment.pad": p.pad, "augment.flip": True}),
))

# --- modern changes -----------------------------------------------------------------------------

BATCHNORM = _trick(
    name="batchnorm",
    origin="Ioffe & Szegedy 2015 (batch normalization)",
    summary="BatchNorm after every convolutional and locally connected layer, before its neuron",
    stage=Stage.ARCHITECTURE,
    changes=("model.batchnorm",),
    apply=lambda r, p: edit(r, {"model.batchnorm": True}),
)


@dataclass(frozen=True)
class LabelSmoothingParams:
    epsilon: float = 0.1

    def validate(self) -> None:
        if not 0.0 < self.epsilon < 1.0:
            raise ValueError("epsilon must be in (0, 1)")


def _torch_loss(recipe) -> list[str]:
    problems = _cuda_convnet_only(recipe)
    if recipe.model.ops.loss != "torch":
        problems.append("label smoothing needs model.ops.loss=torch (the custom loss kernel has none)")
    return problems


LABEL_SMOOTHING = register(Trick(
    era=ERA,
    name="label_smoothing",
    origin="Szegedy et al. 2016 (label smoothing)",
    summary="softmax cross-entropy against targets smoothed by epsilon={epsilon:g}",
    stage=Stage.LOSS,
    changes=("model.label_smoothing",),
    params=LabelSmoothingParams,
    apply=lambda r, p: edit(r, {"model.label_smoothing": p.epsilon}),
    check=_torch_loss,
))


@dataclass(frozen=True)
class AdamWParams:
    lr: float = 1.0  # multiplies the per-layer rates: epsW 1e-3 -> AdamW's usual 1e-3

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError("lr must be > 0")


ADAMW = _trick(
    name="adamw",
    origin="Kingma & Ba 2015; Loshchilov & Hutter 2019 (decoupled weight decay)",
    summary="AdamW, its step sizes the layers' rates times {lr:g}, their wc its decoupled weight decay",
    stage=Stage.OPTIMIZER,
    changes=("optim.name", "optim.lr"),
    params=AdamWParams,
    apply=lambda r, p: edit(r, {"optim.name": "adamw", "optim.lr": p.lr}),
)


@dataclass(frozen=True)
class OneCycleParams:
    peak: float = 4.0  # times the per-layer rates at the top of the cycle
    final: float = 0.04  # times the per-layer rates at the start and the end
    warmup: float = 0.3

    def validate(self) -> None:
        if not 0 < self.final < self.peak:
            raise ValueError("need 0 < final < peak")


ONE_CYCLE = _trick(
    name="one_cycle",
    origin="Smith & Topin 2019 (super-convergence, one-cycle schedule)",
    summary="one cycle per run: from {final:g}x up to {peak:g}x the layers' rates over the first {warmup:.0%} of the "
            "passes, cosine back down to {final:g}x",
    stage=Stage.SCHEDULE,
    changes=("optim.schedule", "optim.lr", "optim.lr_final", "optim.warmup"),
    params=OneCycleParams,
    apply=lambda r, p: edit(r, {"optim.schedule": "onecycle", "optim.lr": p.peak, "optim.lr_final": p.final,
                                "optim.warmup": p.warmup}),
)

MIXED_PRECISION = _trick(
    name="mixed_precision",
    origin="Micikevicius et al. 2018 (mixed precision training); bfloat16 autocast",
    summary="forward and loss under bfloat16 autocast, fp32 weights",
    stage=Stage.TRAINING,
    changes=("trainer.precision",),
    apply=lambda r, p: edit(r, {"trainer.precision": "bf16"}),
)

CHANNELS_LAST = _trick(
    name="channels_last",
    origin="PyTorch channels-last memory format (NHWC, the layout tensor-core convolutions prefer)",
    summary="weights and training batches in NHWC memory order",
    stage=Stage.TRAINING,
    changes=("trainer.channels_last",),
    apply=lambda r, p: edit(r, {"trainer.channels_last": True}),
)

TORCH_COMPILE = _trick(
    name="torch_compile",
    origin="PyTorch 2 (Ansel et al. 2024, torch.compile: TorchDynamo + TorchInductor)",
    summary="the training forward and backward compiled by torch.compile",
    stage=Stage.TRAINING,
    changes=("trainer.compile",),
    apply=lambda r, p: edit(r, {"trainer.compile": True}),
)
