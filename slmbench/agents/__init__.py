"""The agent paradigms: a single ReAct agent and a routing supervisor with ReAct specialists."""

from slmbench.agents.react import run_react, run_single_agent
from slmbench.agents.supervisor import run_multi_agent

__all__ = ["run_multi_agent", "run_react", "run_single_agent"]
