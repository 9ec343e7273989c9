"""A zip application run as the script (python3 app.pyz)."""
import sys
import helper

print(__name__, sys.argv[1:], helper.double(4), sys.path[0].endswith("app.pyz"))
helper.fail()
