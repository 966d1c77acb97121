"""The graph that `langgraph dev` and LangGraph Server load (see langgraph.json).

It is built once, at start, with the models named by CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL
(set them in .env; see .env.example). Tests import ``my_app.graph`` instead and pass their own models.
"""

from my_app.graph import build_graph

graph = build_graph()
