"""qsr_graph: the query-item bipartite graph and the data it is built from."""

__version__ = "0.1.0"
