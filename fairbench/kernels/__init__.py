"""Similarity kernels: blocked matrix products that stream scores into counts."""
