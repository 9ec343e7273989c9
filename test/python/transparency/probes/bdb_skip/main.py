"""A debugger stepping into an import with skip=['importlib*'] stops first in the imported module."""
import bdb
import sys

stops = []


class Stepper(bdb.Bdb):
    def user_line(self, frame):
        stops.append((frame.f_code.co_filename.rsplit("/", 1)[-1], frame.f_code.co_name, frame.f_lineno))
        if len(stops) < 6:
            self.set_step()
        else:
            self.set_quit()

    user_call = None


def do_import():
    import stepped_module
    return stepped_module.VALUE


dbg = Stepper(skip=["importlib*"])
try:
    dbg.runcall(do_import)
except bdb.BdbQuit:
    pass
sys.settrace(None)
for s in stops:
    print(s)
