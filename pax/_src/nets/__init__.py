"""Ready-made networks: ResNets and a Transformer decoder stack."""
