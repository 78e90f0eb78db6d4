"""Style transfer: losses, optimization transfer (Gatys), feed-forward stylizers (Johnson, Dumoulin), ONNX."""
