"""Published numbers our runs are compared with. Each entry cites its source.

Only numbers stated in the source are given; everything else stays empty.
"""

from __future__ import annotations

LECUN_1989 = {
    "source": "LeCun et al. 1989 (paper)",
    "data": "usps",
    # Section 5.3: "after 23 passes ... 0.14% misclassifications on the
    # training set and 5.0% on the test set".
    "train_error": 0.14,
    "test_error": 5.0,
    "note": "Neural Computation 1(4):541-551; SUN-4 workstation, 3 days",
}

KARPATHY_2022 = {
    "source": "Karpathy 2022 repro (MNIST 16x16)",
    "data": "mnist16",
    # karpathy/lecun1989-repro README, repro.py after 23 passes.
    "train_error": 0.62,
    "test_error": 4.09,
    "note": "github.com/karpathy/lecun1989-repro; 7,291/2,007 MNIST digits at 16x16",
}

LECUN1989_REFERENCES = (LECUN_1989, KARPATHY_2022)
