"""The neutral core that training (`model/`) and serving (`service/`) share, and neither owns:
the bundle contract, the vocabulary, the batched decoder and its search, and the ONNX Runtime backend.
It imports neither side, and never torch."""
