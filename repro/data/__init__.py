"""Digit data: USPS (the 1989 paper's) and MNIST at 16x16 (Karpathy's protocol)."""

from .digits import DigitSplits
from .errors import DataError
from .mnist import load_mnist16
from .registry import load_digits
from .root import DATA_ROOT_ENV, resolve_data_root
from .usps import load_usps

__all__ = [
    "DATA_ROOT_ENV",
    "DataError",
    "DigitSplits",
    "load_digits",
    "load_mnist16",
    "load_usps",
    "resolve_data_root",
]
