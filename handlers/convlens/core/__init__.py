"""What every area shares: backbones, image decoding and limits, inputs, errors, progress, colormaps, grids."""
