from fission.core.jobs import PythonJob
import time


class SourceJob(PythonJob):
    def __init__(self, start=1, step=1,*args, **kwargs):
        super().__init__(*args, **kwargs)
        self.value = start
        self.step = step

    def run(self):
        while True:
            print(f"{self.id} -> {self.value}")
            yield self.value
            time.sleep(1)
            self.value += self.step
