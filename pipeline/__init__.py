"""Plain computation for neuroninfo: data, networks, training, quantizers, ablation, charts.

Nothing here imports Prefect; functions take arrays/paths and return arrays/paths.
"""
