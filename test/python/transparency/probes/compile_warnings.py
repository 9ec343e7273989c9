"""Warnings the compiler gives about the script itself are shown once, as plain Python shows them."""
import sys

pattern = "\d+ items"
same = 1 is 1
assert (same, "always true")
print(pattern, same, sys.warnoptions)
