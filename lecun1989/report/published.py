"""The 1989 era's published numbers our runs are compared with: the paper's,
and Karpathy's 2022 rerun. Each entry cites its source.

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


# Karpathy 2022, one entry per row of conf/row/karpathy_table/: his final
# "eval" lines (MNIST 16x16, one seed each). Source: modern.py's docstring for
# changes 1-4, the blog post ("Cheating with data") for the two 50,000-digit
# rows. `passes` as he states them (None: not stated).
KARPATHY_2022_ROWS = {
    "baseline": {"train_error": 0.62, "test_error": 4.09, "test_misses": 82, "passes": 23, "data": "MNIST 16x16, 7,291"},
    "mnist_baseline": {"train_error": 0.62, "test_error": 4.09, "test_misses": 82, "passes": 23, "data": "MNIST 16x16, 7,291"},
    "softmax_ce": {"train_error": 0.00, "test_error": 4.38, "test_misses": 87, "passes": 23, "data": "MNIST 16x16, 7,291"},
    "adamw": {"train_error": 0.00, "test_error": 3.59, "test_misses": 72, "passes": 46, "data": "MNIST 16x16, 7,291"},
    "augment": {"train_error": 1.70, "test_error": 2.19, "test_misses": 43, "passes": 60, "data": "MNIST 16x16, 7,291"},
    "dropout_relu": {"train_error": 1.47, "test_error": 1.59, "test_misses": 32, "passes": 80, "data": "MNIST 16x16, 7,291"},
    "more_data": {"train_error": 2.03, "test_error": 2.74, "test_misses": 54, "passes": 100, "data": "MNIST 16x16, 50,000"},
    "all_more_data": {"train_error": 1.07, "test_error": 1.25, "test_misses": 24, "passes": None, "data": "MNIST 16x16, 50,000"},
}
KARPATHY_2022_SOURCE = (
    "Karpathy 2022, 'Deep Neural Nets: 33 years ago and 33 years from now' and karpathy/lecun1989-repro modern.py"
)
