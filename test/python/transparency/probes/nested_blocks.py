"""Twenty statically nested loops (the limit of the compiler) in one function, and deeply nested
with/try blocks: the instrumentation must not push them over the limit."""
import contextlib


def twenty():
    n = 0
    for a in range(2):
     for b in range(1):
      for c in range(1):
       for d in range(1):
        for e in range(1):
         for f in range(1):
          for g in range(1):
           for h in range(1):
            for i in range(1):
             for j in range(1):
              for k in range(1):
               for l in range(1):
                for m in range(1):
                 for o in range(1):
                  for p in range(1):
                   for q in range(1):
                    for r in range(1):
                     for s in range(1):
                      for t in range(1):
                       for u in range(2):
                        n += 1
    return n


def withs():
    cm = contextlib.nullcontext
    n = 0
    with cm():
     with cm():
      with cm():
       with cm():
        with cm():
         with cm():
          with cm():
           with cm():
            try:
             try:
              try:
               try:
                try:
                 try:
                  try:
                   try:
                    try:
                     n = 1 / 0
                    finally:
                     n += 1
                   finally:
                    n += 1
                  finally:
                   n += 1
                 finally:
                  n += 1
                finally:
                 n += 1
               finally:
                n += 1
              finally:
               n += 1
             finally:
              n += 1
            except ZeroDivisionError:
             n += 100
    return n


print(twenty(), withs())
