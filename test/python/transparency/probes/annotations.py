"""Module-level __annotations__ (a NameError under the old statement-at-a-time runner)."""
x: int = 3
y: "list[str]"
print(sorted(__annotations__.items(), key=str))


class C:
    a: int = 1
    b: str


print(C.__annotations__)
print("__annotations__" in globals(), sorted(k for k in globals() if k.startswith("__")))
