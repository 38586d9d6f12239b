"""Pipes of shared. Use them in a config.py with: from shared.pipes.pipes import MyPipe"""

from fission.core.pipes import PicklePipe

# class MyPipe(PicklePipe):
#     BLOCK_COUNT = 5  # hand 5 blocks at once to the receiving job, as a list
