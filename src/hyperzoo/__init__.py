"""hyperzoo: hypernetworks that generate whole neural networks."""

__version__ = "0.1.0"
