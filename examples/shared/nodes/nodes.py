"""Nodes of shared. Use them in a config.py with: from shared.nodes.nodes import MyNode"""

from fission.core.nodes import BaseNode

# class MyNode(BaseNode):
#     GROUPS = ["HAS_MIC", "ALL"]  # jobs of group HAS_MIC may be placed on this node
