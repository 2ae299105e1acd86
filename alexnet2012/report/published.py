"""The 2012 era's published numbers our runs are compared with. Each entry cites its source.

Only numbers stated in the source are given; everything else stays empty.
"""

from __future__ import annotations


# cuda-convnet's CIFAR-10 recipes: the error each layer file's first line
# states, and the time on one GTX 580 it names (None: not stated).
# Source: cuda-convnet (code.google.com/p/cuda-convnet) example-layers/*.cfg.
CUDACONVNET_CIFAR10 = {
    "layers-80sec": {"test_error": 26.0, "gtx580_time_s": 80.0,
                     "quote": "26% error on CIFAR-10 in 80 seconds"},
    "layers-18pct": {"test_error": 18.0, "gtx580_time_s": 20 * 60.0,
                     "quote": "18% error on CIFAR-10 in 20 minutes"},
    # The final version's first line, verbatim (cuda-convnet2 layers/layer-params-cifar10-11pct.cfg, and the
    # later revisions of cuda-convnet's layer-params-conv-local-11pct.cfg): "# 11% error on CIFAR-10 - layer
    # parameter file". Its step 7 tests with "--multiview-test=1".
    "layers-conv-local-11pct": {"test_error": 11.0, "gtx580_time_s": None,
                                "quote": "11% error on CIFAR-10 - layer parameter file"},
}
CUDACONVNET_SOURCE = "cuda-convnet (Krizhevsky 2012), example-layers/layers-*.cfg and layer-params-*.cfg"


# The AlexNet paper's own numbers (Krizhevsky, Sutskever & Hinton, NIPS 2012), for results/REPORT.md's headline
# (headline.py). Section 3.1, Figure 1: "A four-layer convolutional neural network with ReLUs (solid line)
# reaches a 25% training error rate on CIFAR-10 six times faster than an equivalent network with tanh neurons
# (dashed line)". Table 2, ILSVRC-2012, the row "1 CNN": 40.7% top-1 and 18.2% top-5 error on the validation set.
ALEXNET_2012 = {"figure1_ratio": 6.0, "ilsvrc2012_top1": 40.7, "ilsvrc2012_top5": 18.2}
