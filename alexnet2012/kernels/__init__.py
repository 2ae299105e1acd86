"""Hand-written CUDA kernels for AlexNet's layers, in the spirit of cuda-convnet.

    csrc/        one kernel family per file: <family>.cuh (the math, shared by
                 the CPU path and the GPU), <family>.cu (the CUDA kernels),
                 ops.cpp, conv_ops.cpp (op schemas, checks, CPU path, CUDA launch
                 glue), torch_glue.h (their shared helpers)
    build.py     the build step (python -m alexnet2012.kernels.build)
    ops.py       torch.ops.repro_alexnet: autograd, fake implementations, API
    reference.py the same computations in plain PyTorch
    modules.py   the layers behind model.ops.<kind>=custom

Importing this package builds nothing; importing ``ops`` or ``modules`` does.
"""
