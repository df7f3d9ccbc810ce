"""The demo: sample source databases, a config, one cycle and a summary."""
