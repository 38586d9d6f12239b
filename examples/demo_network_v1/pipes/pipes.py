from fission.core.pipes import PicklePipe


class ReducePipe(PicklePipe):
    BLOCK_COUNT = 5
