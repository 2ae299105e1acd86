"""Hand-written CUDA kernels for AlexNet's layers, in the spirit of cuda-convnet.

One module per kernel family holds that op's whole story: the public
function, the plain-PyTorch reference, the fake (meta) implementation, the
autograd formula, and the layer behind ``model.ops.<kind>=custom``:

    lrn.py  maxpool.py  bias_relu.py  dropout.py  softmax_xent.py  conv.py

    library.py   shared: ensure_built() (build on first use, then register fakes and autograd), fake helpers
    build.py     the build step (python -m alexnet2012.kernels.build), its cache
    selfcheck.py every op against its reference (python -m alexnet2012.kernels.selfcheck)
    csrc/        per family: <family>.cuh (the math, shared by the CPU path and the GPU),
                 <family>.cu (the CUDA kernels, torch-free), <family>_ops.cpp (op schemas,
                 checks, CPU path, CUDA launch glue); torch_glue.h (their shared helpers)

Importing any of these builds nothing; see README.md.
"""
