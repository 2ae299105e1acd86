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


# The AlexNet paper's claims the cc_ablations rows speak to (report/cc_ablations.py), each about the paper's own
# setting. `quote`: the paper's sentence as reached through the project's reference search (`search`, corpus
# pages), with where it was reached; None where the text was not reached in that search (issue 42's session):
# the claim is then the paper's number as the issue states it, shown unquoted and said so in the table's notes.
ALEXNET_2012_CLAIMS = {
    "no_response_norm": {
        "claim": "response normalisation lowers top-1 / top-5 error by 1.4 / 1.2 points; on CIFAR-10 a four-layer "
                 "CNN: 13% test error without it, 11% with",
        "source": "Krizhevsky et al. 2012, section 3.3",
        "setting": "ILSVRC, the 8-layer net; CIFAR-10, their four-layer net",
        "quote": None,
    },
    "non_overlapping_pool": {
        "claim": "overlapping 3x3/2 pooling lowers top-1 / top-5 error by 0.4 / 0.3 points against 2x2/2",
        "source": "Krizhevsky et al. 2012, section 3.4",
        "setting": "ILSVRC, the 8-layer net",
        # Reached quoted in full at https://stats.stackexchange.com/questions/283261 (the question quotes section 3.4).
        "quote": "This scheme reduces the top-1 and top-5 error rates by 0.4% and 0.3%, respectively, as compared "
                 "with the non-overlapping scheme s = 2, z = 2, which produces output of equivalent dimensions.",
    },
    "tanh": {
        "claim": "ReLU nets train several times faster than tanh nets: 25% training error on CIFAR-10 six times "
                 "sooner (a speed claim, about training error, not test error)",
        "source": "Krizhevsky et al. 2012, section 3.1, Figure 1",
        "setting": "CIFAR-10, a four-layer net, training error",
        # Figure 1's caption, as quoted above for ALEXNET_2012["figure1_ratio"].
        "quote": "A four-layer convolutional neural network with ReLUs (solid line) reaches a 25% training error "
                 "rate on CIFAR-10 six times faster than an equivalent network with tanh neurons (dashed line).",
    },
}
