"""Datasets: manifests, dataset cards, adapters, demographic binning and data lookup."""
