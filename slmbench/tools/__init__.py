"""Tools the agents can call: a safe calculator and search over local, Wikipedia or web backends."""

from slmbench.tools.base import Tool, ToolError, is_error, truncate_tokens
from slmbench.tools.toolbox import TOOL_NAMES, build_tool, build_tools

__all__ = ["TOOL_NAMES", "Tool", "ToolError", "build_tool", "build_tools", "is_error", "truncate_tokens"]
