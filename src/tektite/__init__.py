"""tektite: Tekton, in Python, without needing a cluster."""

__version__ = "0.1.0"
