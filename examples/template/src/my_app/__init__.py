"""my_app: a LangGraph app in which a local and a cloud model share the work."""

from my_app.graph import AppContext, AppState, build_graph

__all__ = ["AppContext", "AppState", "build_graph"]
