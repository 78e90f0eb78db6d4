"""Looking inside the network: first-layer filters, activations, top patches, receptive fields, embeddings and
layouts (Zeiler & Fergus; Karpathy's t-SNE of CNN codes)."""
