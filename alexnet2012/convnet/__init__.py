"""cuda-convnet's own CIFAR-10 networks (Krizhevsky's layers-*.cfg files) as configs of the 2012 era."""
