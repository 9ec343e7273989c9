"""A directory run as the script (python3 app/): its __main__.py runs through runpy."""
import sys
import helper

print(__name__, __file__.endswith("__main__.py"), sys.argv, helper.double(21))
print(__spec__.name if __spec__ else None, sys.path[0].endswith("app"))
helper.fail()
