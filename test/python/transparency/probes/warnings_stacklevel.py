"""warnings' stacklevel counts frames: from module level, stacklevel=2 must name sys:1."""
import warnings

warnings.simplefilter("always")


def deprecated(level):
    warnings.warn("old api (level %d)" % level, DeprecationWarning, stacklevel=level)


warnings.warn("module level", UserWarning, stacklevel=2)
deprecated(1)
deprecated(2)
deprecated(3)
for i in range(2):
    deprecated(2)
