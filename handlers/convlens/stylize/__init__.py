"""Feed-forward stylizers served by ONNX Runtime (the networks are trained and exported by tools/stylizers)."""
