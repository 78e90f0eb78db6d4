"""Optimization style transfer (Gatys): losses, the pixel optimization, colour keeping (stylizers: tools/stylizers)."""
