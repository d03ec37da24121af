"""The serving data plane: the model server and the router, the processes that answer
inference requests over HTTP. Kept out of ``covenant.serving`` (decisions, worker,
agent, runtimes), which never serves HTTP itself, as the layout rules ask."""
