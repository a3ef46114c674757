"""The networks: backbones (MLP, ensemble), heads, the assembled TabularNet, reuse."""
