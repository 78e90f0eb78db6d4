"""ConvLens engine: pure PyTorch algorithms for seeing inside CNNs, usable without a server."""
