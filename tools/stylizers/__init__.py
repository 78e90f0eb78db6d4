"""Train (`train`), and export to ONNX (`export`, `fastgraph`), the feed-forward stylizers `stylize` serves."""
